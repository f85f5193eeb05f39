/*
 * A PKCS#11 module for hallmark's tests. It forwards every call to the
 * module named by HALLMARK_SHIM_MODULE (SoftHSM2) and changes two things:
 *
 *   HALLMARK_SHIM_REMOVE_AFTER=N  after N signatures the token is removed:
 *       C_SignInit and C_Sign answer CKR_DEVICE_REMOVED, C_OpenSession
 *       CKR_TOKEN_NOT_PRESENT, and C_GetSlotList lists no token.
 *   HALLMARK_SHIM_HASH_ONLY=1     the token offers CKM_ECDSA_SHA256, _SHA384
 *       and _SHA512 instead of CKM_ECDSA, as some HSMs do: the shim hashes
 *       (with the real module's C_Digest, in a session of its own) and signs
 *       the digest with CKM_ECDSA.
 *
 * Built by testkit.BuildPKCS11Shim with the headers of github.com/miekg/pkcs11.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include "pkcs11go.h"

static CK_FUNCTION_LIST shim;
static CK_FUNCTION_LIST_PTR real;
static long signs, removeAfter = -1;
static int hashOnly;
/* The digest mechanism of the hashed ECDSA operation in progress. */
static CK_MECHANISM_TYPE pendingHash;

static int removed(void) { return removeAfter >= 0 && signs >= removeAfter; }

static CK_RV shimGetSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR list, CK_ULONG_PTR count) {
	if (removed() && tokenPresent) {
		*count = 0;
		return CKR_OK;
	}
	return real->C_GetSlotList(tokenPresent, list, count);
}

static CK_RV shimOpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify, CK_SESSION_HANDLE_PTR h) {
	if (removed()) return CKR_TOKEN_NOT_PRESENT;
	return real->C_OpenSession(slot, flags, app, notify, h);
}

static CK_RV shimGetMechanismList(CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count) {
	CK_ULONG n = 0, m = 0, i;
	CK_MECHANISM_TYPE *all;
	CK_RV rv;
	if (!hashOnly) return real->C_GetMechanismList(slot, list, count);
	rv = real->C_GetMechanismList(slot, NULL, &n);
	if (rv != CKR_OK) return rv;
	all = calloc(n + 3, sizeof *all);
	if (all == NULL) return CKR_HOST_MEMORY;
	rv = real->C_GetMechanismList(slot, all, &n);
	if (rv != CKR_OK) {
		free(all);
		return rv;
	}
	for (i = 0; i < n; i++) {
		if (all[i] != CKM_ECDSA) all[m++] = all[i];
	}
	all[m++] = CKM_ECDSA_SHA256;
	all[m++] = CKM_ECDSA_SHA384;
	all[m++] = CKM_ECDSA_SHA512;
	if (list != NULL && *count < m) rv = CKR_BUFFER_TOO_SMALL;
	else if (list != NULL) memcpy(list, all, m * sizeof *all);
	*count = m;
	free(all);
	return rv;
}

static CK_RV shimSignInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key) {
	if (removed()) return CKR_DEVICE_REMOVED;
	pendingHash = 0;
	if (hashOnly) {
		CK_MECHANISM ecdsa = {CKM_ECDSA, NULL, 0};
		switch (mech->mechanism) {
		case CKM_ECDSA: return CKR_MECHANISM_INVALID;
		case CKM_ECDSA_SHA256: pendingHash = CKM_SHA256; break;
		case CKM_ECDSA_SHA384: pendingHash = CKM_SHA384; break;
		case CKM_ECDSA_SHA512: pendingHash = CKM_SHA512; break;
		}
		if (pendingHash) return real->C_SignInit(h, &ecdsa, key);
	}
	return real->C_SignInit(h, mech, key);
}

static CK_RV shimSign(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig, CK_ULONG_PTR sigLen) {
	CK_BYTE digest[64];
	CK_ULONG digestLen = sizeof digest;
	CK_RV rv;
	if (removed()) return CKR_DEVICE_REMOVED;
	if (pendingHash) {
		CK_SESSION_INFO info;
		CK_SESSION_HANDLE d;
		CK_MECHANISM m = {pendingHash, NULL, 0};
		rv = real->C_GetSessionInfo(h, &info);
		if (rv == CKR_OK) rv = real->C_OpenSession(info.slotID, CKF_SERIAL_SESSION, NULL, NULL, &d);
		if (rv != CKR_OK) return rv;
		rv = real->C_DigestInit(d, &m);
		if (rv == CKR_OK) rv = real->C_Digest(d, data, len, digest, &digestLen);
		real->C_CloseSession(d);
		if (rv != CKR_OK) return rv;
		data = digest;
		len = digestLen;
	}
	rv = real->C_Sign(h, data, len, sig, sigLen);
	if (rv == CKR_OK && sig != NULL) {
		signs++;
		pendingHash = 0;
	}
	return rv;
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out) {
	if (real == NULL) {
		const char *path = getenv("HALLMARK_SHIM_MODULE");
		const char *after = getenv("HALLMARK_SHIM_REMOVE_AFTER");
		const char *only = getenv("HALLMARK_SHIM_HASH_ONLY");
		void *lib;
		CK_C_GetFunctionList get;
		if (path == NULL || (lib = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) return CKR_GENERAL_ERROR;
		get = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
		if (get == NULL || get(&real) != CKR_OK) return CKR_GENERAL_ERROR;
		if (after != NULL) removeAfter = atol(after);
		hashOnly = only != NULL && strcmp(only, "1") == 0;
		shim = *real;
		shim.C_GetSlotList = shimGetSlotList;
		shim.C_OpenSession = shimOpenSession;
		shim.C_GetMechanismList = shimGetMechanismList;
		shim.C_SignInit = shimSignInit;
		shim.C_Sign = shimSign;
	}
	*out = &shim;
	return CKR_OK;
}
