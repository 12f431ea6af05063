/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket's client: one JSON line out, one JSON line back (control.ts).
 */
#define _GNU_SOURCE

#include "lab-client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int lab_connect(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	strcpy(a.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

static void drop(int *conn)
{
	if (*conn >= 0)
		close(*conn);
	*conn = -1;
}

cJSON *lab_call(int *conn, const char *path, cJSON *req, int *err)
{
	char *text = cJSON_PrintUnformatted(req), *line = NULL;
	size_t len, off = 0, cap = 0;
	cJSON *resp;

	cJSON_Delete(req);
	if (!text) {
		*err = ENOMEM;
		return NULL;
	}
	if (*conn < 0) {
		*conn = lab_connect(path);
		if (*conn < 0) {
			*conn = -1;
			free(text);
			*err = EIO;
			return NULL;
		}
	}
	len = strlen(text);
	text[len++] = '\n'; /* cJSON leaves room for the terminating NUL we overwrite */
	while (off < len) {
		ssize_t n = send(*conn, text + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(text);
			drop(conn);
			*err = EIO;
			return NULL;
		}
		off += n;
	}
	free(text);
	off = 0;
	for (;;) {
		ssize_t n;

		if (cap - off < 4096) {
			char *l = realloc(line, cap = cap ? 2 * cap : 65536);

			if (!l) {
				free(line);
				drop(conn);
				*err = ENOMEM;
				return NULL;
			}
			line = l;
		}
		n = recv(*conn, line + off, cap - off - 1, 0);
		/*
		 * a request is never given up for a signal: a write to sysfs or /dev/kmsg is not
		 * interruptible in the kernel, and a wait is bounded by the request itself (kmsg-read's
		 * waitMs), after which the caller looks at its interrupt
		 */
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*err = EIO;
			free(line);
			drop(conn);
			return NULL;
		}
		off += n;
		if (line[off - 1] == '\n')
			break;
	}
	line[off] = 0;
	resp = cJSON_Parse(line);
	free(line);
	if (!resp) {
		drop(conn);
		*err = EIO;
	}
	return resp;
}

size_t lab_utf8_to_bytes(char *s)
{
	unsigned char *r = (unsigned char *)s, *w = (unsigned char *)s;

	while (*r) {
		if ((r[0] & 0xe0) == 0xc0 && (r[1] & 0xc0) == 0x80) {
			*w++ = ((r[0] & 0x1f) << 6) | (r[1] & 0x3f);
			r += 2;
		} else {
			*w++ = *r++;
		}
	}
	return (size_t)(w - (unsigned char *)s);
}
