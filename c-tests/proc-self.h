/*
 * What the kernel says about this process's memory: resident bytes (from
 * /proc/self/statm) and the number of mappings (lines of /proc/self/maps).
 * Shared by the C tests and bench/bench.c, which also builds against QEMU.
 */
#ifndef QEMUCORO_PROC_SELF_H
#define QEMUCORO_PROC_SELF_H

#include <stdio.h>
#include <unistd.h>

/* Resident bytes, or 0 if /proc cannot be read. */
static inline long proc_resident_bytes(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2) {
            rss = 0;
        }
        fclose(f);
    }
    return rss * sysconf(_SC_PAGESIZE);
}

/* Mappings in the process, or 0 if /proc cannot be read. */
static inline long proc_mapping_count(void)
{
    long lines = 0;
    int c;
    FILE *f = fopen("/proc/self/maps", "r");
    if (f) {
        while ((c = fgetc(f)) != EOF) {
            lines += c == '\n';
        }
        fclose(f);
    }
    return lines;
}

#endif
