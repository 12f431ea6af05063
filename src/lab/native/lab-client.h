/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The client side of a running lab's control socket (src/lab/control.ts), shared by the
 * native programs of `klp-lab shell`: the FUSE helper, the kmod commands and klp-spawn.
 */
#ifndef KLP_LAB_CLIENT_H
#define KLP_LAB_CLIENT_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* A connected socket to the lab at path, or -errno. */
int lab_connect(const char *path);

/*
 * Sends req (consumed) over *conn, connecting to path first if *conn is -1, and returns the
 * lab's answer whether it says ok or not. NULL with *err set when no answer came: ENOMEM or EIO
 * (the lab cannot be reached, or the connection broke); *conn is then closed and -1. A signal
 * does not end the wait for an answer.
 */
cJSON *lab_call(int *conn, const char *path, cJSON *req, int *err);

/*
 * The protocol's byte strings are JSON strings of characters 0..255: back to those bytes, in
 * place; returns the byte count.
 */
size_t lab_utf8_to_bytes(char *s);

#endif
