/* see guardpage.h */
#include "tests/support/guardpage.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int guardpage_init(struct guardpage *g, size_t max)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t data = (max + page - 1) / page * page;
    void *m;

    if (data == 0)
        data = page;
    m = mmap(NULL, data + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return -errno;
    if (mprotect((unsigned char *)m + data, page, PROT_NONE) != 0) {
        int err = -errno;
        munmap(m, data + page);
        return err;
    }
    g->base = m;
    g->data_size = data;
    return 0;
}

void *guardpage_place(struct guardpage *g, const void *p, size_t n)
{
    unsigned char *dst = g->base + g->data_size - n;
    if (n > 0)
        memmove(dst, p, n);
    return dst;
}

void guardpage_free(struct guardpage *g)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (g->base != NULL)
        munmap(g->base, g->data_size + page);
    g->base = NULL;
}
