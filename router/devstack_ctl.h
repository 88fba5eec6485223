/* devstack_ctl.h: stopping and restarting only the Postgres of a devstack,
 * for fault tests ("Postgres stopped and restarted mid-stream loses
 * nothing", and the same for nats-server). Works from outside the devstack struct: the postmaster is
 * found through <dir>/pg/postmaster.pid and restarted on the same port,
 * data directory and socket directory, as the devstack started it. */
#ifndef SY_DEVSTACK_CTL_H
#define SY_DEVSTACK_CTL_H

#include "devstack.h"
#include "status.h"

/* Fast shutdown of the running postmaster; waits (<= 30 s) until it is gone. */
sy_status devstack_pg_stop(const devstack *ds, sy_error *err) SY_MUST_USE;

/* Starts the postmaster again (as the devstack does: our child, dying with
 * us) and waits until it accepts connections (<= 60 s). Call
 * devstack_pg_stop before devstack_stop to stop a restarted postmaster. */
sy_status devstack_pg_start(const devstack *ds, sy_error *err) SY_MUST_USE;

/* The same for nats-server (found through /proc by its -sd <dir>/nats
 * argument): stop (SIGTERM, waits <= 30 s) and start again on the same
 * ports and store directory (waits <= 30 s for the client port). */
sy_status devstack_nats_stop(const devstack *ds, sy_error *err) SY_MUST_USE;
sy_status devstack_nats_start(const devstack *ds, sy_error *err) SY_MUST_USE;

#endif
