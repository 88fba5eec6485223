/* The project's documentation stands alone: every page a file cites by
 * name (`rules/README.md`, `docs/schedules.md`, a bare page name in a
 * comment) is in the repository, and every relative link of a Markdown page
 * resolves. Walks the source tree (not .git, build directories or
 * node_modules). */
#include "fixture.h"
#include "test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

typedef struct finding {
    char lines[4096]; /* "file: cited" lines, for the failure message */
    size_t len, count;
} finding;

typedef void check_fn(finding *f, const char *rel, const char *dir, const char *text);

static const char *root(void)
{
    static char r[1024];
    snprintf(r, sizeof r, "%s", fixture_source_path(""));
    size_t n = strlen(r);
    if (n > 1 && r[n - 1] == '/')
        r[n - 1] = '\0';
    return r;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void report(finding *f, const char *rel, const char *what, size_t n)
{
    f->count++;
    int w =
        snprintf(f->lines + f->len, sizeof f->lines - f->len, "  %s: %.*s\n", rel, (int)n, what);
    if (w > 0 && f->len + (size_t)w < sizeof f->lines)
        f->len += (size_t)w;
}

/* Whether target (n bytes) names a file relative to dir, the root or docs/. */
static bool resolves(const char *dir, const char *target, size_t n)
{
    char p[2048];
    const char *bases[] = {dir, root()};
    for (size_t i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%.*s", bases[i], (int)n, target);
        if (exists(p))
            return true;
    }
    snprintf(p, sizeof p, "%s/docs/%.*s", root(), (int)n, target);
    return exists(p);
}

static bool path_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '/' || c == '-';
}

/* Every word ending in ".md" must name a file. A word after '%' is a format
 * string's tail, not a citation. */
static void check_cited_pages(finding *f, const char *rel, const char *dir, const char *text)
{
    for (const char *p = strstr(text, ".md"); p; p = strstr(p + 3, ".md")) {
        char after = p[3];
        if ((after >= 'A' && after <= 'Z') || (after >= 'a' && after <= 'z') || after == '_')
            continue;
        const char *s = p;
        while (s > text && path_char(s[-1]))
            s--;
        if (s == p || (s > text && s[-1] == '%') || !path_char(p[-1]) || p[-1] == '/' ||
            p[-1] == '.')
            continue;
        if (!resolves(dir, s, (size_t)(p + 3 - s)))
            report(f, rel, s, (size_t)(p + 3 - s));
    }
}

/* Every relative link target of a Markdown page, "[text](target#anchor)". */
static void check_markdown_links(finding *f, const char *rel, const char *dir, const char *text)
{
    size_t n = strlen(rel);
    if (n < 3 || strcmp(rel + n - 3, ".md") != 0)
        return;
    for (const char *p = strstr(text, "]("); p; p = strstr(p + 2, "](")) {
        const char *t = p + 2, *e = t;
        while (*e && *e != ')' && *e != '#' && *e != ' ' && *e != '\n')
            e++;
        if (e == t)
            continue;
        const char *colon = memchr(t, ':', (size_t)(e - t));
        if (colon) /* http:, https:, mailto: */
            continue;
        if (!resolves(dir, t, (size_t)(e - t)))
            report(f, rel, t, (size_t)(e - t));
    }
}

static bool wanted(const char *name)
{
    static const char *const exts[] = {".c",  ".h",   ".md", ".json", ".proto", ".yaml", ".yml",
                                       ".py", ".sql", ".js", ".css",  ".html",  ".sh",   ".txt"};
    static const char *const names[] = {"Makefile", "Dockerfile", "CMakeLists.txt"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof exts / sizeof *exts; i++) {
        size_t k = strlen(exts[i]);
        if (n > k && strcmp(name + n - k, exts[i]) == 0)
            return true;
    }
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(name, names[i]) == 0)
            return true;
    return false;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)(n > 0 ? n : 0) + 1);
    size_t got = b ? fread(b, 1, (size_t)(n > 0 ? n : 0), f) : 0;
    fclose(f);
    if (b)
        b[got] = '\0';
    return b;
}

static bool skipped_dir(const char *name)
{
    return name[0] == '.' || strncmp(name, "build", 5) == 0 || strcmp(name, "node_modules") == 0;
}

/* Runs check on every wanted file under dir (recursively). */
static void walk_dir(const char *dir, check_fn *check, finding *f)
{
    DIR *d = opendir(dir);
    CHECK_MSG(d != NULL, "cannot list %s", dir);
    const struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (e->d_name[0] == '.' || lstat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (!skipped_dir(e->d_name))
                walk_dir(path, check, f);
        } else if (S_ISREG(st.st_mode) && wanted(e->d_name)) {
            char *text = slurp(path);
            if (text)
                check(f, path + strlen(root()) + 1, dir, text);
            free(text);
        }
    }
    closedir(d);
}

static void walk(check_fn *check, finding *f)
{
    memset(f, 0, sizeof *f);
    walk_dir(root(), check, f);
}

TEST(every_page_a_file_cites_is_in_the_repository)
{
    finding f;
    walk(check_cited_pages, &f);
    CHECK_MSG(f.count == 0, "%zu citations of pages that are not in the repository:\n%s", f.count,
              f.lines);
}

TEST(relative_markdown_links_resolve)
{
    finding f;
    walk(check_markdown_links, &f);
    CHECK_MSG(f.count == 0, "%zu broken relative links:\n%s", f.count, f.lines);
}
