/*
 * sim_tls: see sim_tls.h.  OpenSSL 3 APIs: EVP_EC_gen for keys, X509 for the
 * certificates, X509V3 extensions from their config-string forms.
 */
#include "sim_tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
  if (!ext)
    return -1;
  int rc = X509_add_ext(cert, ext, -1) ? 0 : -1;
  X509_EXTENSION_free(ext);
  return rc;
}

/* A certificate for `cn` with `key`, signed by issuer/issuer_key (self-signed when NULL). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                       int is_ca) {
  X509 *cert = X509_new();
  unsigned char serial[8];
  if (!cert || RAND_bytes(serial, sizeof serial) != 1)
    goto fail;
  serial[0] &= 0x7f;
  BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
  if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert))) {
    BN_free(bn);
    goto fail;
  }
  BN_free(bn);
  X509_set_version(cert, 2);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3650L * 24 * 3600);
  X509_set_pubkey(cert, key);
  X509_NAME *name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"ipo-sim", -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
  X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name);
  X509 *iss = issuer ? issuer : cert;
  if (is_ca) {
    if (add_ext(cert, iss, NID_basic_constraints, "critical,CA:TRUE") ||
        add_ext(cert, iss, NID_key_usage, "critical,keyCertSign,cRLSign") ||
        add_ext(cert, iss, NID_subject_key_identifier, "hash"))
      goto fail;
  } else {
    if (add_ext(cert, iss, NID_basic_constraints, "critical,CA:FALSE") ||
        add_ext(cert, iss, NID_key_usage, "critical,digitalSignature,keyEncipherment") ||
        add_ext(cert, iss, NID_ext_key_usage, "serverAuth") ||
        add_ext(cert, iss, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1") ||
        add_ext(cert, iss, NID_authority_key_identifier, "keyid"))
      goto fail;
  }
  if (!X509_sign(cert, issuer_key ? issuer_key : key, EVP_sha256()))
    goto fail;
  return cert;
fail:
  X509_free(cert);
  return NULL;
}

static int write_pem(const char *path, X509 *cert, EVP_PKEY *key, char *errstr,
                     size_t errstr_size) {
  FILE *f = NULL;
  int ok = 0;
  if (key) {
    /* Private key: readable by the owner only. */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f && fd >= 0)
      close(fd);
  } else {
    f = fopen(path, "w");
  }
  if (!f) {
    snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
    return -1;
  }
  ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)
           : PEM_write_X509(f, cert);
  if (fclose(f) != 0)
    ok = 0;
  if (!ok) {
    snprintf(errstr, errstr_size, "%s: cannot write PEM", path);
    return -1;
  }
  return 0;
}

int sim_tls_ensure(const char *dir, char *errstr, size_t errstr_size) {
  char ca_path[1024], crt_path[1024], key_path[1024];
  EVP_PKEY *ca_key = NULL, *srv_key = NULL;
  X509 *ca = NULL, *srv = NULL;
  int rc = -1;

  snprintf(ca_path, sizeof ca_path, "%s/ca.pem", dir);
  snprintf(crt_path, sizeof crt_path, "%s/server.pem", dir);
  snprintf(key_path, sizeof key_path, "%s/server.key", dir);
  if (access(ca_path, R_OK) == 0 && access(crt_path, R_OK) == 0 && access(key_path, R_OK) == 0)
    return 0;
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    snprintf(errstr, errstr_size, "%s: %s", dir, strerror(errno));
    return -1;
  }
  ca_key = EVP_EC_gen("P-256");
  srv_key = EVP_EC_gen("P-256");
  if (!ca_key || !srv_key) {
    snprintf(errstr, errstr_size, "EC key generation failed");
    goto done;
  }
  ca = make_cert(ca_key, "ipo-sim test CA", NULL, NULL, 1);
  srv = ca ? make_cert(srv_key, "localhost", ca, ca_key, 0) : NULL;
  if (!srv) {
    snprintf(errstr, errstr_size, "certificate generation failed: %s",
             ERR_reason_error_string(ERR_get_error()));
    goto done;
  }
  if (write_pem(ca_path, ca, NULL, errstr, errstr_size) ||
      write_pem(crt_path, srv, NULL, errstr, errstr_size) ||
      write_pem(key_path, NULL, srv_key, errstr, errstr_size))
    goto done;
  rc = 0;
done:
  X509_free(ca);
  X509_free(srv);
  EVP_PKEY_free(ca_key);
  EVP_PKEY_free(srv_key);
  return rc;
}
