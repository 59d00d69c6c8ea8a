/* Replays every fuzzing input kept in the tree through the fuzz targets'
 * own code, in the ordinary build: tests/fuzz/regress/TARGET/ holds the
 * inputs that once crashed or broke a target's requirements (each fixed),
 * tests/fuzz/corpus/TARGET/ the seeds. A requirement that breaks here is
 * a counted failure naming the file. Seeds must be accepted unless their
 * name starts with "refuse" (then they must be refused, with a message).
 * Files are also read from disk the way the tools read them (kd_st_read
 * for safetensors) and must give the same verdict as the memory parser. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/fsutil.h"
#include "tests/harness.h"

static const char *current = "";
#define FUZZ_REQUIRE(cond) CHECK(cond, "fuzz requirement broken by %s", current)
#define KD_FUZZ_NO_MAIN

#include "tests/fuzz/fuzz_cifar.c"
#include "tests/fuzz/fuzz_cli_args.c"
#include "tests/fuzz/fuzz_device_select.c"
#include "tests/fuzz/fuzz_gzip.c"
#include "tests/fuzz/fuzz_idx.c"
#include "tests/fuzz/fuzz_image.c"
#include "tests/fuzz/fuzz_model_file.c"
#include "tests/fuzz/fuzz_model_spec.c"
#include "tests/fuzz/fuzz_safetensors.c"

typedef struct target {
    const char *name;
    int (*fn)(const uint8_t *, size_t);
} target;

static const target TARGETS[] = {
    {"safetensors", fuzz_safetensors}, {"idx", fuzz_idx},               {"cifar", fuzz_cifar},
    {"gzip", fuzz_gzip},               {"image", fuzz_image},           {"model_spec", fuzz_model_spec},
    {"model_file", fuzz_model_file},   {"device_select", fuzz_device_select}, {"cli_args", fuzz_cli_args},
};
#define NTARGETS (int)(sizeof TARGETS / sizeof TARGETS[0])

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Same verdict from the file reader as from the memory parser. */
static void safetensors_from_disk(const char *path, int accepted) {
    kd_st_file f;
    kd_err err = {0};
    kd_status s = kd_st_read(path, &f, &err);
    CHECK((s == KD_OK) == (accepted == 1), "%s: kd_st_read says %s, kd_st_parse %s", path, kd_status_str(s),
          accepted ? "accepted" : "refused");
    CHECK(s == KD_OK || strstr(err.msg, path), "%s: the file reader's message names the file: %s", path, err.msg);
    kd_st_free(&f);
}

/* Replays every file of dir; returns how many there were. */
static int replay(const target *t, const char *dir, bool seeds, int *accepted) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    char *names[4096];
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < 4096;)
        if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_names);
    for (int i = 0; i < n; i++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        void *data = NULL;
        size_t size = 0;
        kd_err err;
        if (kd_read_file(path, &data, &size, &err) != KD_OK) {
            CHECK(0, "cannot read %s: %s", path, err.msg);
            free(names[i]);
            continue;
        }
        current = path;
        int ok = t->fn(data, size);
        *accepted += ok;
        if (seeds) {
            bool refuse = strncmp(names[i], "refuse", 6) == 0;
            CHECK(ok == !refuse, "seed %s was %s", path, ok ? "accepted" : "refused");
        }
        if (!strcmp(t->name, "safetensors")) safetensors_from_disk(path, ok);
        free(data);
        free(names[i]);
    }
    return n;
}

int main(void) {
    /* tests/fuzz beside this file (CMake passes absolute paths), else
     * beside KDCL_TEST_DATA (SRC/tests/data, which need not exist). */
    char root[1024], here[1024];
    snprintf(here, sizeof here, "%s", __FILE__);
    snprintf(root, sizeof root, "%s/fuzz", dirname(here));
    const char *data = getenv("KDCL_TEST_DATA");
    if (root[0] != '/' && data) {
        snprintf(here, sizeof here, "%s", data);
        snprintf(root, sizeof root, "%s/fuzz", dirname(here));
    }
    int total_corpus = 0, total_regress = 0;
    for (int i = 0; i < NTARGETS; i++) {
        char dir[1200];
        int acc = 0;
        snprintf(dir, sizeof dir, "%s/corpus/%s", root, TARGETS[i].name);
        int nc = replay(&TARGETS[i], dir, true, &acc);
        CHECK(nc > 0, "no seeds in %s", dir);
        snprintf(dir, sizeof dir, "%s/regress/%s", root, TARGETS[i].name);
        int nr = replay(&TARGETS[i], dir, false, &acc);
        printf("%-14s %3d seeds, %3d regression inputs, %3d accepted\n", TARGETS[i].name, nc, nr, acc);
        total_corpus += nc;
        total_regress += nr;
    }
    printf("replayed %d seeds and %d regression inputs\n", total_corpus, total_regress);
    return th_done("test_fuzz_regress");
}
