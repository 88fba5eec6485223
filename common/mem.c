/* mem.c: see mem.h. */
#include "mem.h"

#include <stdlib.h> /* defines __GLIBC__, tested below */

#ifdef __GLIBC__
#include <malloc.h>
#endif

void sy_mem_fix_mmap_threshold(void)
{
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, (int)SY_MEM_MMAP_THRESHOLD);
#endif
}

void sy_mem_release(void)
{
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}
