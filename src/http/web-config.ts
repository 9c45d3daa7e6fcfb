// Protects the exporter's own endpoint with the web config (src/config/web-config.ts): TLS whose
// certificate is reloaded when its files change, client certificates, and basic auth users.
import { X509Certificate } from 'node:crypto';
import { stat } from 'node:fs/promises';
import tls from 'node:tls';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MAX_PEM_BYTES, opensslReason, type WebConfig } from '../config/web-config.ts';
import { readFileBoundedSync } from '../files/bounded-file.ts';
import { basicAuthHook, type BasicAuthDeps } from './basic-auth.ts';

export interface HttpsSetup {
  /** Pass as fastify's `https` option. */
  readonly options: tls.TlsOptions;
  /** Swaps the server's certificate when the files change (checked every checkIntervalMs) until the server closes. */
  attach(server: tls.Server): void;
  /** Checks the files now; resolves when a changed certificate is in use or was refused. */
  refresh(): Promise<void>;
  close(): void;
}

export interface HttpsDeps {
  logger: Pick<FastifyBaseLogger, 'info' | 'error'>;
  checkIntervalMs?: number;
}

/** Null when the web config has no tls_server_config (serve plain HTTP). */
export function createHttpsOptions(webConfig: WebConfig, { logger, checkIntervalMs = 5_000 }: HttpsDeps): HttpsSetup | null {
  const config = webConfig.tls;
  if (!config) return null;
  const files = [config.certFile, config.keyFile, ...(config.clientCaFile ? [config.clientCaFile] : [])];
  const read = () => ({
    cert: readFileBoundedSync(config.certFile, MAX_PEM_BYTES),
    key: readFileBoundedSync(config.keyFile, MAX_PEM_BYTES),
    ...(config.clientCaFile ? { ca: readFileBoundedSync(config.clientCaFile, MAX_PEM_BYTES) } : {}),
    minVersion: config.minVersion,
  });
  const type = config.clientAuthType;
  const options: tls.TlsOptions = {
    ...read(),
    requestCert: type !== 'NoClientCert',
    rejectUnauthorized: type === 'RequireAndVerifyClientCert',
  };
  let signature: Promise<string> = fileSignature(files);
  let server: tls.Server | null = null;
  let timer: NodeJS.Timeout | null = null;
  let checking: Promise<void> | null = null;

  const check = async (): Promise<void> => {
    const [before, now] = [await signature, await fileSignature(files)];
    if (now === before || !server) return;
    signature = Promise.resolve(now);
    try {
      const context = read();
      tls.createSecureContext(context); // throws for a broken pair before the server's context is touched
      server.setSecureContext(context);
      const cert = new X509Certificate(context.cert);
      logger.info(
        { certFile: config.certFile, subject: cert.subject, notAfter: cert.validTo },
        'TLS certificate files changed: new connections get the new certificate',
      );
    } catch (error) {
      logger.error(
        { certFile: config.certFile, keyFile: config.keyFile, reason: opensslReason(error) },
        'TLS certificate files changed but cannot be used; still serving the previous certificate',
      );
    }
  };
  const refresh = () => (checking ??= check().finally(() => (checking = null)));
  const close = () => {
    if (timer) clearInterval(timer);
    timer = null;
  };
  return {
    options,
    attach(target) {
      server = target;
      timer ??= setInterval(() => void refresh(), checkIntervalMs).unref();
      target.once('close', close);
    },
    refresh,
    close,
  };
}

/** Changes when any file is replaced, rewritten or removed. */
async function fileSignature(files: string[]): Promise<string> {
  const parts = await Promise.all(
    files.map((file) =>
      stat(file).then(
        (s) => `${s.ino}:${s.size}:${s.mtimeMs}`,
        () => 'missing',
      ),
    ),
  );
  return parts.join('|');
}

/**
 * The client certificate checks the TLS layer cannot make: RequireAnyClientCert (a certificate, not
 * verified) and VerifyClientCertIfGiven (a certificate given must verify). Null when not needed.
 */
export function clientCertificateHook(
  webConfig: WebConfig,
): ((request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>) | null {
  const type = webConfig.tls?.clientAuthType;
  if (type !== 'RequireAnyClientCert' && type !== 'VerifyClientCertIfGiven') return null;
  return async (request, reply) => {
    const socket = request.raw.socket as Partial<tls.TLSSocket>;
    const given = Object.keys(socket.getPeerCertificate?.() ?? {}).length > 0;
    let refusal: string | null = null;
    if (!given && type === 'RequireAnyClientCert') refusal = 'a client certificate is required';
    else if (given && type === 'VerifyClientCertIfGiven' && socket.authorized !== true) {
      refusal = `the client certificate is not trusted (${String(socket.authorizationError ?? 'unverified')})`;
    }
    if (refusal === null) return undefined;
    return reply.code(403).header('connection', 'close').type('text/plain; charset=utf-8').send(`Forbidden: ${refusal}.\n`);
  };
}

/**
 * Applies a web config to an app: starts certificate reloading and adds the client certificate and
 * basic auth checks (before every route, 404s included). Throws if TLS is configured but the app's
 * server is not a TLS server, so a forgotten `https` option never silently serves plain HTTP.
 */
export function secureApp(
  app: Pick<FastifyInstance, 'addHook'> & { server: unknown },
  webConfig: WebConfig,
  https: HttpsSetup | null,
  deps: BasicAuthDeps = {},
): void {
  if (webConfig.tls) {
    if (!https || !(app.server instanceof tls.Server))
      throw new Error(`${webConfig.source} configures TLS, but the app was built without its https options`);
    https.attach(app.server);
  }
  const certificateHook = clientCertificateHook(webConfig);
  if (certificateHook) app.addHook('onRequest', certificateHook);
  const authHook = basicAuthHook(webConfig, deps);
  if (authHook) app.addHook('onRequest', authHook);
}
