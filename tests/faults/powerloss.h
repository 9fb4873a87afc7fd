/*
 * The journal that the power-loss shim (powerloss.c) writes and
 * powerloss-replay reads: records in the order they happened, each a
 * header and len bytes of payload.
 *
 *   W  bytes written to the store's data file at off, not yet durable
 *   S  an fdatasync or fsync of the data file returned: every W before
 *      it is durable
 *   M  bytes written at off through the descriptor opened with O_DSYNC
 *      (LMDB's meta page), durable when the call returned
 *   A  the backend is about to publish and acknowledge the event
 *      (payload team id, arg seq)
 */
#ifndef PARLEY_POWERLOSS_H
#define PARLEY_POWERLOSS_H

#include <stdint.h>

#define POWERLOSS_REC_W 'W'
#define POWERLOSS_REC_S 'S'
#define POWERLOSS_REC_M 'M'
#define POWERLOSS_REC_A 'A'

struct powerloss_rec {
	uint32_t kind;
	uint32_t len; /* bytes of payload that follow */
	uint64_t arg; /* W, M: file offset; A: seq */
};

#endif
