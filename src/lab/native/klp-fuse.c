/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * klp-fuse: the kernel's files of a running lab (/sys, /proc, /dev/kmsg parts) as a FUSE
 * filesystem, for ordinary programs in `klp-lab shell`'s private mount namespace.
 *
 *   klp-fuse SOCKET MOUNTPOINT
 *
 * Every operation is forwarded to the lab over its control socket (src/lab/control.ts, JSON
 * lines); the lab answers with the kernel's modes, contents and errnos. The helper keeps no
 * state of its own but what an open file needs (the content read at offset 0: a sysfs file
 * is generated once per open and read in pieces; a /dev/kmsg reader's sequence number) and
 * the entries the lab calls fixed when it starts: /sys, /sys/kernel, /proc, /dev/kmsg and the
 * like exist with the same modes as long as the lab runs, so their stat and open are answered
 * here. A shell's every path walk goes through them: over half of a selftest script's requests
 * were these, each a round trip to the lab's busy process.
 *
 * Each FUSE thread has its own connection, so that a reader blocked on /dev/kmsg does not hold
 * up the others. File contents are bytes; in JSON they travel as characters 0..255 (UTF-8 on
 * the wire, \u00XX from the lab), converted at both ends here.
 *
 * It runs in the foreground and ends when the lab goes away (its socket closes): the mount is
 * taken down and the process exits, so nothing is left serving a dead lab.
 */
#define FUSE_USE_VERSION 31
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lab-client.h"

/* how long one kmsg-read asks the lab to wait before the helper checks for an interrupt */
#define KMSG_WAIT_MS 250
/* how many records one kmsg-read asks for: dmesg reads the whole log, one record per read */
#define KMSG_BATCH 512

static const char *sock_path;
static struct fuse *the_fuse;
static time_t start_time;
static __thread int conn = -1;

/* An entry the lab calls fixed: what stat(2) and open(2) give for it, for as long as it runs. */
struct fixed {
	char *path;
	struct stat st;
	int read, write; /* open(2) may read it, write it (kernfs's rule, decided by the lab) */
};

static struct fixed *fixed;
static size_t nr_fixed;

struct handle {
	int kmsg;
	long seq;     /* kmsg: the next record to read */
	int started;  /* kmsg: a record was read (before, a reader starts at the oldest kept) */
	cJSON *batch; /* kmsg: the lab's last answer, whose records are handed out one per read */
	cJSON *next;  /* kmsg: the next of them, seq's */
	char *data;   /* other files: the content read at offset 0 */
	size_t len;
	int have;
};

static const struct {
	const char *name;
	int value;
} errnos[] = {
	{"EPERM", EPERM},
	{"ENOENT", ENOENT},
	{"ESRCH", ESRCH},
	{"EINTR", EINTR},
	{"EIO", EIO},
	{"ENOEXEC", ENOEXEC},
	{"EAGAIN", EAGAIN},
	{"EWOULDBLOCK", EAGAIN},
	{"ENOMEM", ENOMEM},
	{"EACCES", EACCES},
	{"EFAULT", EFAULT},
	{"EBUSY", EBUSY},
	{"EEXIST", EEXIST},
	{"ENODEV", ENODEV},
	{"ENOTDIR", ENOTDIR},
	{"EISDIR", EISDIR},
	{"EINVAL", EINVAL},
	{"ENOSPC", ENOSPC},
	{"EPIPE", EPIPE},
	{"ERANGE", ERANGE},
	{"ENOSYS", ENOSYS},
	{"ETIMEDOUT", ETIMEDOUT},
	{"EADDRINUSE", EADDRINUSE},
};

static int errno_value(const char *name)
{
	size_t i;

	for (i = 0; name && i < sizeof(errnos) / sizeof(errnos[0]); i++)
		if (!strcmp(errnos[i].name, name))
			return errnos[i].value;
	return EIO;
}

/* bytes -> UTF-8 of the characters 0..255 they stand for */
static char *bytes_to_utf8(const char *b, size_t n)
{
	char *out = malloc(2 * n + 1), *p = out;
	size_t i;

	if (!out)
		return NULL;
	for (i = 0; i < n; i++) {
		unsigned char c = b[i];

		if (c < 0x80) {
			*p++ = c;
		} else {
			*p++ = 0xc0 | (c >> 6);
			*p++ = 0x80 | (c & 0x3f);
		}
	}
	*p = 0;
	return out;
}

/*
 * Sends req (consumed) over this thread's connection and returns the lab's answer, or NULL with
 * *err set: the lab's errno for a refusal, EIO when the lab cannot be reached.
 */
/*
 * A request's answer, NULL with *err set if it failed; `failed`, if given, gets the failure's
 * answer (which may say more than its errno), for the caller to free.
 */
static cJSON *call_answer(cJSON *req, int *err, cJSON **failed)
{
	cJSON *resp = lab_call(&conn, sock_path, req, err);

	if (resp && !cJSON_IsTrue(cJSON_GetObjectItem(resp, "ok"))) {
		*err = errno_value(cJSON_GetStringValue(cJSON_GetObjectItem(resp, "errno")));
		if (failed)
			*failed = resp;
		else
			cJSON_Delete(resp);
		return NULL;
	}
	return resp;
}

static cJSON *call(cJSON *req, int *err)
{
	return call_answer(req, err, NULL);
}

static cJSON *request(const char *op, const char *path)
{
	cJSON *r = cJSON_CreateObject();

	cJSON_AddStringToObject(r, "op", op);
	if (path)
		cJSON_AddStringToObject(r, "path", path);
	return r;
}

static double number(cJSON *o, const char *key)
{
	return cJSON_GetNumberValue(cJSON_GetObjectItem(o, key));
}

static void fill_stat(cJSON *o, struct stat *st)
{
	int dir = !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(o, "kind")) ?: "", "dir");

	memset(st, 0, sizeof(*st));
	st->st_mode = (dir ? S_IFDIR : S_IFREG) | ((int)number(o, "mode") & 07777);
	st->st_nlink = dir ? 2 : 1;
	st->st_size = (off_t)number(o, "size");
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_atime = st->st_mtime = st->st_ctime = start_time;
}

static const struct fixed *find_fixed(const char *path)
{
	size_t i;

	for (i = 0; i < nr_fixed; i++)
		if (!strcmp(fixed[i].path, path))
			return &fixed[i];
	return NULL;
}

/* The lab's fixed entries, asked once before serving; without them every request goes to the lab. */
static void load_fixed(void)
{
	int err = 0, c = -1;
	cJSON *r = lab_call(&c, sock_path, request("fixed", NULL), &err), *e, *list;
	size_t n = 0;

	if (c >= 0)
		close(c);
	list = r && cJSON_IsTrue(cJSON_GetObjectItem(r, "ok")) ? cJSON_GetObjectItem(r, "entries") : NULL;
	fixed = list ? calloc(cJSON_GetArraySize(list), sizeof(*fixed)) : NULL;
	if (fixed)
		cJSON_ArrayForEach(e, list)
		{
			const char *path = cJSON_GetStringValue(cJSON_GetObjectItem(e, "path"));

			if (!path || !(fixed[n].path = strdup(path)))
				continue;
			fill_stat(e, &fixed[n].st);
			fixed[n].read = cJSON_IsTrue(cJSON_GetObjectItem(e, "read"));
			fixed[n].write = cJSON_IsTrue(cJSON_GetObjectItem(e, "write"));
			n++;
		}
	nr_fixed = n;
	cJSON_Delete(r);
}

static int kfs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	int err = 0;
	const struct fixed *f = find_fixed(path);
	cJSON *r;

	(void)fi;
	if (f) {
		*st = f->st;
		return 0;
	}
	r = call(request("stat", path), &err);
	if (!r)
		return -err;
	fill_stat(r, st);
	cJSON_Delete(r);
	return 0;
}

static int kfs_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		       struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	int err = 0;
	cJSON *r = call(request("readdir", path), &err), *e;
	struct stat st;

	(void)off;
	(void)fi;
	(void)flags;
	if (!r)
		return -err;
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(r, "entries"))
	{
		fill_stat(e, &st);
		fill(buf, cJSON_GetStringValue(cJSON_GetObjectItem(e, "name")), &st, 0, 0);
	}
	cJSON_Delete(r);
	return 0;
}

static int kfs_open(const char *path, struct fuse_file_info *fi)
{
	int acc = fi->flags & O_ACCMODE, err = 0;
	const struct fixed *f = find_fixed(path);
	struct handle *h;

	if (f) {
		/* the lab's own checks (kernelfs.ts's open), on what it said of the entry */
		if (S_ISDIR(f->st.st_mode)) {
			if (acc != O_RDONLY)
				return -EISDIR;
		} else if ((acc != O_WRONLY && !f->read) || (acc != O_RDONLY && !f->write)) {
			return -EACCES;
		}
	} else {
		cJSON *req = request("open", path), *r;

		cJSON_AddStringToObject(req, "access", acc == O_WRONLY ? "w" : acc == O_RDWR ? "rw" : "r");
		r = call(req, &err);
		if (!r)
			return -err;
		cJSON_Delete(r);
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->kmsg = !strcmp(path, "/dev/kmsg");
	fi->fh = (uintptr_t)h;
	/* contents are generated by the lab: never cached, never sized by st_size */
	fi->direct_io = 1;
	fi->keep_cache = 0;
	if (h->kmsg)
		fi->nonseekable = 1;
	return 0;
}

static int kfs_release(const char *path, struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;

	(void)path;
	if (h) {
		free(h->data);
		cJSON_Delete(h->batch);
		free(h);
	}
	return 0;
}

/*
 * One /dev/kmsg record per read, as the kernel gives them; EAGAIN at the end for O_NONBLOCK.
 * The records come from the lab in batches of consecutive ones (a reader such as dmesg reads
 * the whole log, and a round trip per record cost more than the rest of its work): the
 * records after the one asked for are kept and handed out by the next reads.
 */
static int kmsg_read(struct handle *h, char *buf, size_t size, int nonblock)
{
	cJSON *e;
	char *rec;
	size_t n;

	while (!h->next) {
		int err = 0;
		cJSON *req = cJSON_CreateObject(), *r, *failed = NULL;

		cJSON_AddStringToObject(req, "op", "kmsg-read");
		cJSON_AddNumberToObject(req, "seq", (double)h->seq);
		cJSON_AddNumberToObject(req, "waitMs", nonblock ? 0 : KMSG_WAIT_MS);
		cJSON_AddNumberToObject(req, "max", KMSG_BATCH);
		r = call_answer(req, &err, &failed);
		if (!r) {
			if (err == EPIPE && failed) {
				/*
				 * Records were dropped. A reader that has read none yet starts at the
				 * oldest kept, as devkmsg_open() places it; otherwise this read fails
				 * and the next goes on from there, as devkmsg_read() moves its reader.
				 */
				h->seq = (long)number(failed, "next");
				cJSON_Delete(failed);
				if (!h->started)
					continue;
				return -EPIPE;
			}
			cJSON_Delete(failed);
			if (err == EAGAIN && !nonblock) {
				if (fuse_interrupted())
					return -EINTR;
				continue;
			}
			return -err;
		}
		cJSON_Delete(h->batch);
		h->batch = r;
		h->seq = (long)number(r, "seq");
		h->next = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "records"), 0);
		if (!h->next)
			return -EIO;
		/* records are text without NULs (kmsg escapes control characters): bytes in place */
		for (e = h->next; e; e = e->next) {
			rec = cJSON_GetStringValue(e);
			if (rec)
				rec[lab_utf8_to_bytes(rec)] = 0;
		}
	}
	rec = cJSON_GetStringValue(h->next);
	n = rec ? strlen(rec) : 0;
	/* a buffer too small for the record: EINVAL, and the record stays the next one */
	if (n > size)
		return -EINVAL;
	memcpy(buf, rec, n);
	h->seq++;
	h->started = 1;
	h->next = h->next->next;
	return (int)n;
}

static int kfs_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;

	if (h->kmsg)
		return kmsg_read(h, buf, size, fi->flags & O_NONBLOCK);
	/* the content is generated at the first read (offset 0) and served from it after */
	if (!h->have || off == 0) {
		int err = 0;
		cJSON *r = call(request("read", path), &err);
		char *d;

		if (!r)
			return -err;
		d = cJSON_GetStringValue(cJSON_GetObjectItem(r, "data"));
		free(h->data);
		h->len = d ? lab_utf8_to_bytes(d) : 0;
		h->data = malloc(h->len + 1);
		if (!h->data) {
			cJSON_Delete(r);
			return -ENOMEM;
		}
		memcpy(h->data, d ? d : "", h->len);
		h->have = 1;
		cJSON_Delete(r);
	}
	if ((size_t)off >= h->len)
		return 0;
	if (size > h->len - off)
		size = h->len - off;
	memcpy(buf, h->data + off, size);
	return (int)size;
}

static int kfs_write(const char *path, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	int err = 0;
	cJSON *req = request("write", path), *r;
	char *data = bytes_to_utf8(buf, size);

	(void)off;
	(void)fi;
	if (!data) {
		cJSON_Delete(req);
		return -ENOMEM;
	}
	cJSON_AddStringToObject(req, "data", data);
	free(data);
	r = call(req, &err);
	if (!r)
		return -err;
	cJSON_Delete(r);
	return (int)size;
}

/* O_TRUNC on a sysfs file or /dev/kmsg is accepted and changes nothing */
static int kfs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct stat st;
	int err = kfs_getattr(path, &st, fi);

	(void)size;
	if (err)
		return err;
	return S_ISDIR(st.st_mode) ? -EISDIR : 0;
}

static void *kfs_init(struct fuse_conn_info *ci, struct fuse_config *cfg)
{
	(void)ci;
	/* patches, modules and cpus come and go: the kernel must ask every time */
	cfg->entry_timeout = 0;
	cfg->attr_timeout = 0;
	cfg->negative_timeout = 0;
	cfg->direct_io = 1;
	cfg->kernel_cache = 0;
	/* a reader blocked on /dev/kmsg gives up (EINTR) when its process is interrupted: FUSE
	 * marks the request and sends the thread SIGUSR1 (harmless, see main()), and the read looks
	 * at the mark after each bounded wait */
	cfg->intr = 1;
	cfg->intr_signal = SIGUSR1;
	return NULL;
}

static const struct fuse_operations kfs_ops = {
	.init = kfs_init,
	.getattr = kfs_getattr,
	.readdir = kfs_readdir,
	.open = kfs_open,
	.read = kfs_read,
	.write = kfs_write,
	.truncate = kfs_truncate,
	.release = kfs_release,
};

/* SIGUSR1, FUSE's interrupt: harmless; a blocked kmsg read sees fuse_interrupted() after its wait */
static void on_intr_signal(int sig)
{
	(void)sig;
}

/* Blocks on a connection of its own: when the lab closes it, the mount goes and so do we. */
static void *watch_lab(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char c;

	while (recv(fd, &c, 1, 0) < 0 && errno == EINTR)
		;
	fuse_unmount(the_fuse);
	_exit(0);
	return NULL;
}

int main(int argc, char *argv[])
{
	char *fargs[] = {argv[0], "-o", "fsname=klp-lab,subtype=klp-lab,default_permissions", NULL};
	struct fuse_args args = FUSE_ARGS_INIT(3, fargs);
	struct sigaction sa = {.sa_handler = on_intr_signal};
	pthread_t watcher;
	int wfd, ret;

	if (argc != 3) {
		fprintf(stderr, "usage: klp-fuse SOCKET MOUNTPOINT\n");
		return 2;
	}
	sock_path = argv[1];
	start_time = time(NULL);
	/* the shell that started us may die with klp-lab: do not outlive it */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	wfd = lab_connect(sock_path);
	if (wfd < 0) {
		fprintf(stderr, "klp-fuse: cannot connect to %s: %s\n", sock_path, strerror(-wfd));
		return 1;
	}
	load_fixed();
	the_fuse = fuse_new(&args, &kfs_ops, sizeof(kfs_ops), NULL);
	if (!the_fuse)
		return 1;
	if (fuse_mount(the_fuse, argv[2])) {
		fprintf(stderr, "klp-fuse: cannot mount on %s\n", argv[2]);
		fuse_destroy(the_fuse);
		return 1;
	}
	if (fuse_set_signal_handlers(fuse_get_session(the_fuse)) ||
	    pthread_create(&watcher, NULL, watch_lab, (void *)(intptr_t)wfd)) {
		fuse_unmount(the_fuse);
		fuse_destroy(the_fuse);
		return 1;
	}
	ret = fuse_loop_mt(the_fuse, 0);
	fuse_remove_signal_handlers(fuse_get_session(the_fuse));
	fuse_unmount(the_fuse);
	fuse_destroy(the_fuse);
	return ret ? 1 : 0;
}
