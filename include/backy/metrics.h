/* metrics.h - the scheduler's metrics in the Prometheus text format
 * (version 0.0.4), for node_exporter's textfile collector or any scraper
 * that reads a file. Written atomically beside the status file, from the
 * same facts (struct bk_status). Names and labels are documented in
 * backy-sched(1); like the status file, they only ever get added to. */
#ifndef BACKY_METRICS_H
#define BACKY_METRICS_H

#include "backy/statusfile.h"

/* malloc'd text, one HELP and TYPE line per metric, samples labelled
 * job="NAME" (escaped as the format wants); NULL when out of memory. */
char *metrics_format(const struct bk_status *st);

#endif
