/*
 * sim_tls: the simulator's certificate, made when none is given.
 *
 * DESIGN: runs once at start, before the server.  Makes an EC P-256 CA and a
 * server certificate signed by it for localhost and 127.0.0.1, and writes
 * ca.pem, server.pem and server.key into a directory, so clients can trust
 * the simulator with a CA file.  Files already present are reused, so a
 * restarted simulator keeps the identity its clients trust.
 */
#ifndef SIM_TLS_H
#define SIM_TLS_H

#include <stddef.h>

/*
 * Make sure dir holds ca.pem, server.pem and server.key (creating dir and
 * generating the files when ca.pem or the server pair is missing).
 * 0, or -1 with errstr filled.
 */
int sim_tls_ensure(const char *dir, char *errstr, size_t errstr_size);

#endif
