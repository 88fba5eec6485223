/* mem.h: the process's heap after oversized input. glibc raises its mmap
 * threshold each time a large mmapped block is freed (up to 32 MiB), so
 * after one big message the next ones are carved out of the threads'
 * arenas, and what they free stays there: RSS keeps the high-water of a
 * burst of bad input long after it was dead-lettered. */
#ifndef SY_MEM_H
#define SY_MEM_H

#include <stddef.h>

/* Blocks of at least this many bytes always get their own mapping, given
 * back to the system when freed (sy_mem_fix_mmap_threshold). */
#define SY_MEM_MMAP_THRESHOLD (256u << 10)

/* Fixes glibc's mmap threshold at SY_MEM_MMAP_THRESHOLD (and with it the
 * trim threshold), turning the dynamic adjustment off. Process-wide: call
 * once from main's thread before any other thread starts (serve does).
 * A no-op without glibc. */
void sy_mem_fix_mmap_threshold(void);

/* Gives free heap pages of every arena back to the system (malloc_trim):
 * after a batch that held an oversized message, not on the hot path (it
 * walks and locks every arena). Any thread. A no-op without glibc. */
void sy_mem_release(void);

#endif
