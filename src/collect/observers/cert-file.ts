// The certificate file on disk, against the leaf the TLS listener served.
import type { Observer } from '../observer.ts';

export const certFileObserver: Observer = {
  source: 'cert_file',
  // Before TLS was ever up there is no served certificate to compare the file with: a node at the
  // start of its migration, whose certificate may not be installed yet.
  due: ({ node, memory, observed }) => Boolean(node.certificateFile) && (memory.tlsEverUp || observed.tls?.handshakeOk === true),
  async run({ node, observed, ctx }) {
    const servedLeaf = observed.tls?.chain.find((cert) => cert.position === 'leaf')?.sha256 ?? null;
    const certFile = await ctx.probes.checkCertFile(node.certificateFile!, servedLeaf);
    return { observed: { certFile }, error: certFile.ok ? null : certFile.error };
  },
};
