/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * klp-kmod: insmod, rmmod, lsmod, modinfo and modprobe for `klp-lab shell`, acting on the
 * running lab through its control socket ($KLP_SOCKET) and printing what kmod 30 (Debian 12)
 * prints: the scripts of a kernel engineer, and the kernel's selftests, put those texts in their
 * expected output. The texts and exit statuses were taken from the real kmod run on a kernel
 * that refused the load.
 *
 * One program, called through a link of each name (the tool is the name it was called by).
 * Native, because the selftest scripts run these commands by the hundred and each waits for
 * the last: a command must start in a millisecond, not in the tenth of a second a Node process
 * takes.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lab-client.h"

static const char *tool;
static int conn = -1;

/* kmod's logging: "insmod: ERROR: ..." on stderr */
static void error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ERROR: ", tool);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static const char *str(cJSON *o, const char *key)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, key));

	return s ? s : "";
}

static int ok(cJSON *a)
{
	return cJSON_IsTrue(cJSON_GetObjectItem(a, "ok"));
}

/* One request to the lab (consumed), on the command's one connection; exits if there is no lab. */
static cJSON *call(cJSON *req)
{
	const char *path = getenv("KLP_SOCKET");
	cJSON *a;
	int err = 0;

	if (!path) {
		error("KLP_SOCKET is not set: run this in `klp-lab shell`");
		exit(1);
	}
	a = lab_call(&conn, path, req, &err);
	if (!a) {
		error("no answer from the lab at %s: %s", path, strerror(err));
		exit(1);
	}
	return a;
}

static cJSON *request(const char *op)
{
	cJSON *r = cJSON_CreateObject();

	cJSON_AddStringToObject(r, "op", op);
	return r;
}

/* path.resolve(): the absolute path, "." and ".." and repeated slashes resolved by name alone */
static char *resolve(const char *file)
{
	char cwd[PATH_MAX], *joined, *out, *seg, *save = NULL;
	size_t n = 0;

	if (file[0] == '/') {
		joined = strdup(file);
	} else {
		if (!getcwd(cwd, sizeof(cwd)) || asprintf(&joined, "%s/%s", cwd, file) < 0)
			return NULL;
	}
	if (!joined)
		return NULL;
	out = malloc(strlen(joined) + 2);
	if (!out) {
		free(joined);
		return NULL;
	}
	for (seg = strtok_r(joined, "/", &save); seg; seg = strtok_r(NULL, "/", &save)) {
		if (!strcmp(seg, "."))
			continue;
		if (!strcmp(seg, "..")) {
			while (n > 0 && out[n] != '/')
				n--;
			continue;
		}
		out[n++] = '/';
		strcpy(out + n, seg);
		n += strlen(seg);
	}
	if (!n)
		out[n++] = '/';
	out[n] = 0;
	free(joined);
	return out;
}

static int readable(const char *file)
{
	return access(file, R_OK) == 0;
}

/* kmod's insmod: what a failed init_module() means, in its words */
static const char *insmod_strerror(cJSON *a)
{
	const char *e = str(a, "errno");

	if (!strcmp(e, "ENOEXEC"))
		return "Invalid module format";
	if (!strcmp(e, "ENOENT"))
		return "Unknown symbol in module";
	if (!strcmp(e, "ESRCH"))
		return "Module has wrong symbol version";
	if (!strcmp(e, "EINVAL"))
		return "Invalid parameters";
	return str(a, "strerror");
}

/* {op: insmod, file, params: [...]} */
static cJSON *insmod_request(const char *file, char **params, int nparams)
{
	cJSON *r = request("insmod"), *p = cJSON_AddArrayToObject(r, "params");
	char *abs = resolve(file);
	int i;

	cJSON_AddStringToObject(r, "file", abs ? abs : file);
	free(abs);
	for (i = 0; i < nparams; i++)
		cJSON_AddItemToArray(p, cJSON_CreateString(params[i]));
	return r;
}

static int insmod(int argc, char **argv)
{
	char **rest = calloc(argc + 1, sizeof(*rest));
	int i, n = 0, status;
	cJSON *a;

	for (i = 1; i < argc; i++) {
		if (argv[i][0] == '-') {
			error("unsupported option %s", argv[i]);
			return 1;
		}
		rest[n++] = argv[i];
	}
	if (!n) {
		error("missing filename.");
		return 1;
	}
	if (!readable(rest[0])) {
		error("could not load module %s: %s", rest[0], strerror(errno));
		return 1;
	}
	a = call(insmod_request(rest[0], rest + 1, n - 1));
	status = !ok(a);
	if (status)
		error("could not insert module %s: %s", rest[0], insmod_strerror(a));
	cJSON_Delete(a);
	free(rest);
	return status;
}

/* rmmod takes a name or a path: "dir/test-klp_x.ko" is module test_klp_x */
static char *module_name(const char *arg)
{
	const char *base = strrchr(arg, '/');
	char *name = strdup(base ? base + 1 : arg), *p;
	size_t len = strlen(name);

	if (len >= 3 && !strcmp(name + len - 3, ".ko"))
		name[len - 3] = 0;
	for (p = name; *p; p++)
		if (*p == '-')
			*p = '_';
	return name;
}

/* The lab's modules, oldest first: {modules: [{name, size, refcnt, usedBy}]} */
static cJSON *lsmod_call(void)
{
	return call(request("lsmod"));
}

static cJSON *find_loaded(cJSON *list, const char *name)
{
	cJSON *m;

	cJSON_ArrayForEach(m, cJSON_GetObjectItem(list, "modules"))
	{
		if (!strcmp(str(m, "name"), name))
			return m;
	}
	return NULL;
}

/* "a b" (rmmod) or "a,b" (lsmod) */
static void print_used_by(FILE *f, cJSON *m, const char *sep)
{
	cJSON *u;
	int first = 1;

	cJSON_ArrayForEach(u, cJSON_GetObjectItem(m, "usedBy"))
	{
		fprintf(f, "%s%s", first ? "" : sep, cJSON_GetStringValue(u) ?: "");
		first = 0;
	}
}

static int rmmod(int argc, char **argv)
{
	int i, status = 0, any = 0;

	for (i = 1; i < argc; i++) {
		char *name;
		cJSON *list, *m, *a;

		if (argv[i][0] == '-')
			continue;
		any = 1;
		name = module_name(argv[i]);
		list = lsmod_call();
		m = find_loaded(list, name);
		if (!m) {
			error("Module %s is not currently loaded", name);
			status = 1;
		} else if (cJSON_GetArraySize(cJSON_GetObjectItem(m, "usedBy"))) {
			fprintf(stderr, "%s: ERROR: Module %s is in use by: ", tool, name);
			print_used_by(stderr, m, " ");
			fputc('\n', stderr);
			status = 1;
		} else if (cJSON_GetNumberValue(cJSON_GetObjectItem(m, "refcnt")) > 0) {
			error("Module %s is in use", name);
			status = 1;
		} else {
			cJSON *r = request("rmmod");

			cJSON_AddStringToObject(r, "name", name);
			a = call(r);
			if (!ok(a)) {
				error("could not remove module %s: %s", argv[i],
				      str(a, "strerror"));
				status = 1;
			}
			cJSON_Delete(a);
		}
		cJSON_Delete(list);
		free(name);
	}
	if (!any) {
		error("missing module name.");
		return 1;
	}
	return status;
}

/* "Module  Size  Used by", newest module first, as /proc/modules lists them */
static int lsmod(void)
{
	cJSON *list = lsmod_call(), *mods = cJSON_GetObjectItem(list, "modules");
	int i;

	printf("Module                  Size  Used by\n");
	for (i = cJSON_GetArraySize(mods) - 1; i >= 0; i--) {
		cJSON *m = cJSON_GetArrayItem(mods, i);

		printf("%-19s %8.0f  %.0f", str(m, "name"),
		       cJSON_GetNumberValue(cJSON_GetObjectItem(m, "size")),
		       cJSON_GetNumberValue(cJSON_GetObjectItem(m, "refcnt")));
		if (cJSON_GetArraySize(cJSON_GetObjectItem(m, "usedBy"))) {
			putchar(' ');
			print_used_by(stdout, m, ",");
		}
		putchar('\n');
	}
	cJSON_Delete(list);
	return 0;
}

/* NAME.ko or NAME.o (or with dashes for underscores) from the first directory of
 * $KLP_MODULE_PATH (colon-separated: the lab's module tree) that has it */
static char *find_module(const char *name)
{
	const char *mp = getenv("KLP_MODULE_PATH");
	char *dirs = strdup(mp ? mp : ""), *dir, *save = NULL, *dashed = strdup(name), *p;
	const char *names[2] = {name, dashed}, *exts[2] = {".ko", ".o"};
	char *found = NULL;
	int n, e;

	for (p = dashed; *p; p++)
		if (*p == '_')
			*p = '-';
	for (dir = strtok_r(dirs, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
		for (n = 0; n < 2 && !found; n++) {
			if (n == 1 && !strcmp(name, dashed))
				break;
			for (e = 0; e < 2 && !found; e++) {
				char *f;

				if (asprintf(&f, "%s/%s%s", dir, names[n], exts[e]) < 0)
					continue;
				if (access(f, F_OK) == 0)
					found = f;
				else
					free(f);
			}
		}
	}
	free(dirs);
	free(dashed);
	return found;
}

/* The directories of $KLP_MODULE_PATH, empty ones left out, joined with ':' again */
static void print_module_path(FILE *f)
{
	const char *mp = getenv("KLP_MODULE_PATH");
	char *dirs = strdup(mp ? mp : ""), *dir, *save = NULL;
	int first = 1;

	for (dir = strtok_r(dirs, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		fprintf(f, "%s%s", first ? "" : ":", dir);
		first = 0;
	}
	free(dirs);
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

struct parm {
	char *name;
	const char *desc, *type;
};

/* kmod's field line: "tag:" padded to 16, the value; or the value alone for -F tag */
static void field_line(const char *field, const char *tag, const char *value)
{
	if (!field) {
		char t[256];

		snprintf(t, sizeof(t), "%s:", tag);
		printf("%-16s%s\n", t, value);
	} else if (!strcmp(tag, field)) {
		printf("%s\n", value);
	}
}

/* The .modinfo of one file, as kmod's modinfo prints it */
static int modinfo_one(const char *name, const char *field)
{
	char *file, *abs, cwd[PATH_MAX];
	struct parm *parms;
	int nparms = 0, i, status = 0;
	cJSON *r, *a, *e;

	if (ends_with(name, ".o") || ends_with(name, ".ko")) {
		file = strdup(name);
	} else {
		char *mod = module_name(name);

		file = find_module(mod);
		free(mod);
	}
	if (!file || !readable(file)) {
		error("Module %s not found.", name);
		free(file);
		return 1;
	}
	r = request("modinfo");
	abs = resolve(file);
	cJSON_AddStringToObject(r, "file", abs ? abs : file);
	free(abs);
	a = call(r);
	if (!ok(a)) {
		error("could not get modinfo from '%s': %s", name, str(a, "strerror"));
		cJSON_Delete(a);
		free(file);
		return 1;
	}
	/* "filename:" first, as given, made absolute without normalizing */
	if (file[0] == '/') {
		field_line(field, "filename", file);
	} else {
		char *f;

		if (!getcwd(cwd, sizeof(cwd)) || asprintf(&f, "%s/%s", cwd, file) < 0) {
			status = 1;
		} else {
			field_line(field, "filename", f);
			free(f);
		}
	}
	/* then the fields in file order, each parameter's parm and parmtype gathered at the end */
	parms = calloc(cJSON_GetArraySize(cJSON_GetObjectItem(a, "entries")) + 1, sizeof(*parms));
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(a, "entries"))
	{
		const char *tag = cJSON_GetStringValue(cJSON_GetArrayItem(e, 0)) ?: "";
		const char *value = cJSON_GetStringValue(cJSON_GetArrayItem(e, 1)) ?: "";
		const char *colon = strchr(value, ':');

		if ((!strcmp(tag, "parm") || !strcmp(tag, "parmtype")) && colon && colon > value) {
			size_t len = colon - value;

			for (i = 0; i < nparms; i++)
				if (strlen(parms[i].name) == len &&
				    !strncmp(parms[i].name, value, len))
					break;
			if (i == nparms)
				parms[nparms++].name = strndup(value, len);
			if (!strcmp(tag, "parm"))
				parms[i].desc = colon + 1;
			else
				parms[i].type = colon + 1;
		} else {
			field_line(field, tag, value);
		}
	}
	for (i = 0; i < nparms; i++) {
		char *v;
		int n;

		if (!parms[i].desc)
			n = asprintf(&v, "%s:%s", parms[i].name, parms[i].type);
		else if (!parms[i].type)
			n = asprintf(&v, "%s:%s", parms[i].name, parms[i].desc);
		else
			n = asprintf(&v, "%s:%s (%s)", parms[i].name, parms[i].desc, parms[i].type);
		if (n >= 0) {
			field_line(field, "parm", v);
			free(v);
		}
		free(parms[i].name);
	}
	free(parms);
	cJSON_Delete(a);
	free(file);
	return status;
}

/*
 * modinfo [-F FIELD] FILE...: "filename:" first, the .modinfo fields in file order, then each
 * parameter as "name:description (type)". kmod takes only *.ko for a file and looks any other
 * name up as a module of the running kernel; the lab's objects are *.o too, and its module
 * tree is $KLP_MODULE_PATH, as for modprobe (the 6.1 selftests run `modinfo NAME`).
 */
static int modinfo(int argc, char **argv)
{
	const char *field = NULL;
	int i, n = 0, status = 0;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-F") || !strcmp(a, "--field"))
			field = i + 1 < argc ? argv[++i] : NULL;
		else if (!strncmp(a, "--field=", 8))
			field = a + 8;
		else if (!strncmp(a, "-F", 2) && a[2])
			field = a + 2;
		else if (a[0] == '-') {
			error("unsupported option %s", a);
			return 1;
		} else
			argv[++n] = argv[i]; /* the names, in place */
	}
	if (!n) {
		error("missing module or filename.");
		return 1;
	}
	fflush(stdout);
	for (i = 1; i <= n; i++) {
		status |= modinfo_one(argv[i], field);
		/* each file's lines before the next one's errors, as kmod writes them */
		fflush(stdout);
	}
	return status;
}

/*
 * modprobe [-n|--dry-run] [-q] NAME [name=value...]: loads NAME.ko or NAME.o from the first
 * directory of $KLP_MODULE_PATH that has it -- the lab has no module tree and no dependencies
 * to resolve. A module already loaded is success, as in kmod.
 */
static int modprobe(int argc, char **argv)
{
	int dry_run = 0, quiet = 0, i, n = 0, status = 0;
	char **rest = calloc(argc + 1, sizeof(*rest)), *name, *file;
	cJSON *list, *a;

	for (i = 1; i < argc; i++) {
		const char *o = argv[i];

		if (!strcmp(o, "-n") || !strcmp(o, "--dry-run"))
			dry_run = 1;
		else if (!strcmp(o, "-q") || !strcmp(o, "--quiet"))
			quiet = 1;
		else if (o[0] == '-' && !n) {
			error("unsupported option %s", o);
			return 1;
		} else
			rest[n++] = argv[i];
	}
	if (!n) {
		error("missing parameters. See -h.");
		return 1;
	}
	name = module_name(rest[0]);
	file = find_module(name);
	if (!file) {
		if (!quiet) {
			fprintf(stderr, "%s: FATAL: Module %s not found in directory ", tool, name);
			print_module_path(stderr);
			fputc('\n', stderr);
		}
		return 1;
	}
	if (dry_run)
		return 0;
	list = lsmod_call();
	if (find_loaded(list, name)) {
		cJSON_Delete(list);
		return 0;
	}
	cJSON_Delete(list);
	a = call(insmod_request(file, rest + 1, n - 1));
	if (!ok(a)) {
		const char *why =
			!strcmp(str(a, "errno"), "ENOENT")
				? "Unknown symbol in module, or unknown parameter (see dmesg)"
				: str(a, "strerror");

		if (!quiet)
			error("could not insert '%s': %s", name, why);
		status = 1;
	}
	cJSON_Delete(a);
	free(file);
	free(name);
	free(rest);
	return status;
}

int main(int argc, char **argv)
{
	const char *slash = strrchr(argv[0], '/');
	int status;

	tool = slash ? slash + 1 : argv[0];
	if (!strcmp(tool, "insmod"))
		status = insmod(argc, argv);
	else if (!strcmp(tool, "rmmod"))
		status = rmmod(argc, argv);
	else if (!strcmp(tool, "lsmod"))
		status = lsmod();
	else if (!strcmp(tool, "modinfo"))
		status = modinfo(argc, argv);
	else if (!strcmp(tool, "modprobe"))
		status = modprobe(argc, argv);
	else {
		fprintf(stderr,
			"klp-kmod: called as '%s': call it as insmod, rmmod, lsmod, modinfo, "
			"modprobe\n",
			tool);
		return 1;
	}
	if (conn >= 0)
		close(conn);
	if (fflush(stdout))
		return 1;
	return status;
}
