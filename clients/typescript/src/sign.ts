// sign.ts: Ed25519 signing with a key file written by `switchyard keygen`
// (envelope/keyfile.c): "secret <key id> ed25519:<base64 of libsodium's
// 64-byte secret key>", mode 0600. The signature covers the exact body
// bytes sent and travels in the Sy-Key-Id and Sy-Signature headers.
import { createPrivateKey, createPublicKey, sign as edSign, type KeyObject } from "node:crypto";
import { readFile, stat } from "node:fs/promises";

export class KeyFileError extends Error {
  readonly code = "bad_key_file";
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
    this.name = "KeyFileError";
  }
}

export interface SigningKey {
  keyId: string;
  /** Base64 signature (Sy-Signature) of exactly these bytes. */
  sign(body: Uint8Array): string;
}

// PKCS#8 wrapping of a raw 32-byte Ed25519 seed (RFC 8410).
const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

/** Builds a signing key from libsodium's 64-byte secret key (seed || public key). */
export function signingKeyFromSecret(keyId: string, secret: Uint8Array): SigningKey {
  if (secret.length !== 64) throw new KeyFileError("", "an Ed25519 secret key is 64 bytes");
  const key: KeyObject = createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, Buffer.from(secret.subarray(0, 32))]),
    format: "der",
    type: "pkcs8",
  });
  const pub = createPublicKey(key).export({ format: "jwk" }).x;
  if (Buffer.from(pub ?? "", "base64url").compare(Buffer.from(secret.subarray(32))) !== 0)
    throw new KeyFileError("", "the secret key's public half does not match its seed");
  return { keyId, sign: (body) => edSign(null, body, key).toString("base64") };
}

/** Reads a key file of `switchyard keygen`; refuses one that group or
 * others may read, as envelope_sign does. */
export async function loadSigningKey(path: string): Promise<SigningKey> {
  let text: string;
  try {
    const st = await stat(path);
    if (st.mode & 0o077)
      throw new KeyFileError(path, `secret key file "${path}" is accessible by group or others (chmod 600)`);
    text = await readFile(path, "utf8");
  } catch (e) {
    if (e instanceof KeyFileError) throw e;
    throw new KeyFileError(path, `could not open "${path}": ${(e as Error).message}`);
  }
  for (const line of text.split("\n")) {
    const m = /^secret (\S{1,64}) ed25519:(\S+)/.exec(line);
    if (!m) continue;
    const sk = Buffer.from(m[2], "base64");
    if (sk.length !== 64) break;
    try {
      return signingKeyFromSecret(m[1], sk);
    } finally {
      sk.fill(0);
    }
  }
  throw new KeyFileError(path, `no "secret <id> ed25519:<key>" line in "${path}"`);
}
