/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef _LINUX_SEQ_FILE_H
#define _LINUX_SEQ_FILE_H
#include <lab/seq_file.h>

#endif
