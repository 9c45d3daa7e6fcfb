// What a Gitaly client's configuration file says: which storage it dials at which address.

/** One storage a client dials, as written in its file (tokens are never read into this). */
export interface StorageEntry {
  /** gitlab.yml: the storage name; Praefect: the Gitaly storage behind a virtual storage. */
  storage: string;
  /** Praefect only: the virtual storage this node serves. */
  virtualStorage?: string;
  /** gitaly_address / address as written; null when the entry has none. */
  address: string | null;
  /** Line of the entry in its file. */
  line: number | null;
}

export type ClientFileResult = { ok: true; storages: StorageEntry[] } | { ok: false; error: { code: string; message: string } };
