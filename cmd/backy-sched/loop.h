/* loop.h - the scheduler's event loop and its children.
 *
 * loop_run waits in poll on the signalfd (SIGTERM, SIGINT: stop; SIGHUP:
 * reload) and the launcher's socket (children that ended), sleeping until
 * the earliest timer: the next due job (while a worker is free), the next
 * scrub, the next status write, a telnet shell restart, or at shutdown
 * the deadline after which the children still running are killed. Each
 * turn it reaps ended children, starts due jobs (the most overdue first,
 * at most worker-limit at once), restarts the telnet shell after its back-
 * off, and rescans and writes the status when it is due. It returns once
 * it is stopping and every child (backups, pushes, scrub, telnet shell)
 * has ended. */
#ifndef BACKY_SCHED_LOOP_H
#define BACKY_SCHED_LOOP_H

/* Start the telnet shell, when the configuration has a port. */
void start_telnet(double now);
/* The telnet settings changed (reload): restart the shell with them. */
void telnet_reconfigured(double now);
/* Run until stopped; sfd is the signalfd. */
void loop_run(int sfd);

#endif
