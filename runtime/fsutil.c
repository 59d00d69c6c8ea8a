#define _POSIX_C_SOURCE 200809L
#include "runtime/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

kd_status kd_mkdirs(const char *path, kd_err *err) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return kd_fail(err, KD_ERR_IO, "path too long: %s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return kd_fail(err, KD_ERR_IO, "cannot create directory %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return kd_fail(err, KD_ERR_IO, "cannot create directory %s: %s", buf, strerror(errno));
    return KD_OK;
}

static void fsync_dir_of(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    int fd = open(dirname(buf), O_RDONLY);
    if (fd >= 0) {
        fsync(fd); /* makes the rename durable; some file systems refuse: harmless */
        close(fd);
    }
}

/* Removes PATH.tmp.XXXXXX files that a process killed in the middle of
 * writing PATH left behind: each is as large as a checkpoint, and a few
 * crashes would otherwise fill the disk (test_crash_resume kills writers
 * and counts them). A second process writing the same path at the same
 * moment would lose its temporary file and fail cleanly at its rename. */
static void remove_stale_temps(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char *dsl = strrchr(buf, '/');
    const char *dir = ".";
    if (dsl == buf) dir = "/";
    else if (dsl) *dsl = '\0', dir = buf;
    size_t blen = strlen(base);
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        const char *n = e->d_name;
        if (strlen(n) != blen + 11 || strncmp(n, base, blen) || strncmp(n + blen, ".tmp.", 5)) continue;
        char victim[4400];
        snprintf(victim, sizeof victim, "%s/%s", dir, n);
        struct stat st;
        if (lstat(victim, &st) == 0 && S_ISREG(st.st_mode)) unlink(victim);
    }
    closedir(d);
}

kd_status kd_write_atomic(const char *path, const kd_chunk *parts, int nparts, kd_err *err) {
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp)
        return kd_fail(err, KD_ERR_IO, "path too long: %s", path);
    remove_stale_temps(path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return kd_fail(err, KD_ERR_IO, "cannot write %s: creating a temporary file beside it failed: %s",
                       path, strerror(errno));
    for (int i = 0; i < nparts; i++) {
        const char *p = parts[i].data;
        size_t left = parts[i].size;
        while (left > 0) {
            ssize_t w = write(fd, p, left);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                int e = errno;
                close(fd);
                unlink(tmp);
                return kd_fail(err, KD_ERR_IO, "cannot write %s: %s (the previous file, if any, is intact)",
                               path, w < 0 ? strerror(e) : "short write");
            }
            p += w;
            left -= (size_t)w;
        }
    }
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return kd_fail(err, KD_ERR_IO, "cannot write %s: fsync failed: %s (the previous file, if any, is intact)",
                       path, strerror(e));
    }
    if (close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return kd_fail(err, KD_ERR_IO, "cannot write %s: %s", path, strerror(e));
    }
    /* mkstemp creates 0600; a weights file is an ordinary user file. */
    mode_t mask = umask(0);
    umask(mask);
    chmod(tmp, 0666 & ~mask);
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return kd_fail(err, KD_ERR_IO, "cannot write %s: rename failed: %s", path, strerror(e));
    }
    fsync_dir_of(path);
    return KD_OK;
}

kd_status kd_read_file(const char *path, void **data, size_t *size, kd_err *err) {
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return kd_fail(err, errno == ENOENT ? KD_ERR_NOT_FOUND : KD_ERR_IO, "cannot open %s: %s", path,
                           strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) goto io;
    long n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0) goto io;
    char *buf = malloc((size_t)n + 1);
    if (!buf) {
        fclose(f);
        return kd_fail(err, KD_ERR_NOMEM, "out of memory reading %s (%ld bytes)", path, n);
    }
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        goto io;
    }
    buf[n] = '\0';
    fclose(f);
    *data = buf;
    *size = (size_t)n;
    return KD_OK;
io:
    fclose(f);
    return kd_fail(err, KD_ERR_IO, "cannot read %s: %s", path, strerror(errno));
}

bool kd_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

long long kd_file_size(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    return (long long)st.st_size;
}
