/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * klp-spawn: a host process standing for a user task of a running lab, so that a script can
 * start a guest program as it starts any program (`./prog &`, `$!`, `kill $pid`, `wait`).
 *
 *   klp-spawn PROGRAM [ARG...]     runs the lab program PROGRAM with argv PROGRAM ARG...
 *   NAME [ARG...]                  a copy of klp-spawn named NAME runs the program NAME.guest
 *                                  beside it (how `klp-lab kselftest` installs a selftest's
 *                                  TEST_GEN_FILES: ./test_klp-call_getpid)
 *
 * It asks the lab behind $KLP_SOCKET (src/lab/control.ts) to spawn the program as a user task
 * whose pid is this process's own pid (klp-lab shell's pid namespace keeps host pids clear of
 * the guest's), so that the pid the script passes around is the task's. Then it stands in for
 * the task: the task's stdout and stderr come out of its own, the signals it gets (SIGHUP,
 * SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2) are sent to the task, and it ends as the task
 * did: it exits with the task's status, or dies of the signal that ended the task, so that the
 * shell reports it as it would the real program ("Terminated"). SIGKILL cannot be caught:
 * when this process dies, its connection closes and the lab kills the task. When the lab goes
 * away, so does this process.
 */
#define _GNU_SOURCE

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lab-client.h"

static const char *self = "klp-spawn";
static int sig_pipe[2];
static const int forwarded[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};

static void on_signal(int sig)
{
	unsigned char c = sig;
	int saved = errno;

	if (write(sig_pipe[1], &c, 1) < 0) {
		/* the pipe is full: signals are coming faster than the lab takes them; drop this one */
	}
	errno = saved;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* a closed stdout loses the task's output, as a closed pipe would */
		p += w;
		n -= w;
	}
}

static int send_request(int fd, cJSON *req)
{
	char *line = cJSON_PrintUnformatted(req);
	size_t n;
	int ok;

	if (!line)
		return -1;
	n = strlen(line);
	line[n] = '\n'; /* cJSON's terminator becomes the line's end */
	ok = send(fd, line, n + 1, MSG_NOSIGNAL) == (ssize_t)(n + 1);
	free(line);
	return ok ? 0 : -1;
}

/* A number field of a message from the lab, or `otherwise` if it has none. */
static int number(cJSON *msg, const char *key, int otherwise)
{
	cJSON *v = cJSON_GetObjectItem(msg, key);

	return cJSON_IsNumber(v) ? v->valueint : otherwise;
}

/* The guest program: PROGRAM of `klp-spawn PROGRAM ...`, else NAME.guest beside this copy. */
static char *guest_program(int argc, char **argv, int *first_arg)
{
	char exe[PATH_MAX], *path;
	const char *base = strrchr(argv[0], '/');
	ssize_t n;

	base = base ? base + 1 : argv[0];
	if (!strcmp(base, "klp-spawn")) {
		if (argc < 2) {
			fprintf(stderr, "usage: klp-spawn PROGRAM [ARG...]\n");
			exit(2);
		}
		*first_arg = 1;
		path = realpath(argv[1], NULL);
		if (!path) {
			fprintf(stderr, "%s: %s: %s\n", self, argv[1], strerror(errno));
			exit(127);
		}
		return path;
	}
	*first_arg = 0;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - sizeof(".guest"));
	if (n < 0) {
		fprintf(stderr, "%s: /proc/self/exe: %s\n", self, strerror(errno));
		exit(126);
	}
	exe[n] = 0;
	if (asprintf(&path, "%s.guest", exe) < 0)
		exit(126);
	return path;
}

/* The task died of @sig: so does this process, with the signal's default action. */
static void die_of(int sig)
{
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigset_t set;

	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
	/* a signal whose default is to ignore it (SIGCHLD, SIGURG...) leaves us here */
}

int main(int argc, char **argv)
{
	const char *sock = getenv("KLP_SOCKET");
	struct sigaction sa = {.sa_handler = on_signal};
	char *program, *buf = NULL;
	size_t len = 0, cap = 0;
	int first, fd, i, next_id = 2, spawned = 0;
	pid_t pid = getpid();
	cJSON *req, *args;

	self = argv[0];
	program = guest_program(argc, argv, &first);
	if (!sock) {
		fprintf(stderr, "%s: $KLP_SOCKET is not set: run it in `klp-lab shell`\n", self);
		return 126;
	}
	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return 126;
	/* from here on, a signal is for the task (it may not have started yet: then it waits) */
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	for (i = 0; i < (int)(sizeof(forwarded) / sizeof(forwarded[0])); i++)
		sigaction(forwarded[i], &sa, NULL);
	fd = lab_connect(sock);
	if (fd < 0) {
		fprintf(stderr, "%s: cannot reach the lab at %s: %s\n", self, sock, strerror(-fd));
		return 126;
	}

	req = cJSON_CreateObject();
	cJSON_AddNumberToObject(req, "id", 1);
	cJSON_AddStringToObject(req, "op", "spawn");
	cJSON_AddStringToObject(req, "file", program);
	args = cJSON_AddArrayToObject(req, "argv");
	for (i = first; i < argc; i++)
		cJSON_AddItemToArray(args, cJSON_CreateString(argv[i]));
	cJSON_AddNumberToObject(req, "pid", pid);
	if (send_request(fd, req) < 0) {
		fprintf(stderr, "%s: the lab has gone away\n", self);
		return 126;
	}
	cJSON_Delete(req);

	for (;;) {
		/* signals that come before the task exists wait in the pipe for the spawn's answer */
		struct pollfd p[2] = {{.fd = fd, .events = POLLIN},
				      {.fd = spawned ? sig_pipe[0] : -1, .events = POLLIN}};
		char *nl;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 126;
		}
		if (p[1].revents & POLLIN) {
			unsigned char sig;

			while (read(sig_pipe[0], &sig, 1) == 1) {
				req = cJSON_CreateObject();
				cJSON_AddNumberToObject(req, "id", next_id++);
				cJSON_AddStringToObject(req, "op", "kill");
				cJSON_AddNumberToObject(req, "pid", pid);
				cJSON_AddNumberToObject(req, "sig", sig);
				send_request(fd, req);
				cJSON_Delete(req);
			}
		}
		if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (cap - len < 65536) {
			cap = cap ? 2 * cap : 131072;
			buf = realloc(buf, cap);
			if (!buf)
				return 126;
		}
		{
			ssize_t n = recv(fd, buf + len, cap - len - 1, 0);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				fprintf(stderr, "%s: the lab has stopped\n", self);
				return 128 + SIGKILL;
			}
			len += n;
			buf[len] = 0;
		}
		while ((nl = memchr(buf, '\n', len))) {
			cJSON *msg, *ev;

			*nl = 0;
			msg = cJSON_Parse(buf);
			len -= nl + 1 - buf;
			memmove(buf, nl + 1, len);
			buf[len] = 0;
			if (!msg)
				continue;
			ev = cJSON_GetObjectItem(msg, "event");
			if (cJSON_IsString(ev) && !strcmp(ev->valuestring, "output")) {
				cJSON *data = cJSON_GetObjectItem(msg, "data");
				int out = number(msg, "fd", 1) == 2 ? 2 : 1;

				if (cJSON_IsString(data))
					write_all(out, data->valuestring, lab_utf8_to_bytes(data->valuestring));
			} else if (cJSON_IsString(ev) && !strcmp(ev->valuestring, "exit")) {
				int sig = number(msg, "signal", 0);

				if (sig > 0 && sig < NSIG)
					die_of(sig);
				return number(msg, "status", 128 + SIGKILL) & 0xff;
			} else if (number(msg, "id", 0) == 1) {
				/* the spawn's answer: the task runs, or the lab said why not */
				if (!cJSON_IsTrue(cJSON_GetObjectItem(msg, "ok"))) {
					cJSON *m = cJSON_GetObjectItem(msg, "message");
					cJSON *e = cJSON_GetObjectItem(msg, "errno");
					int enoent = cJSON_IsString(e) && !strcmp(e->valuestring, "ENOENT");

					fprintf(stderr, "%s: cannot run in the lab: %s\n", self,
						cJSON_IsString(m) ? m->valuestring : "?");
					return enoent ? 127 : 126;
				}
				spawned = 1;
			}
			cJSON_Delete(msg);
		}
	}
}
