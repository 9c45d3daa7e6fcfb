// The message protocol between the benchmark and its child processes (fleet, page server, exporter).
// A child says hello, receives its arguments, answers 'ready' with what the parent needs (ports,
// node list), then serves named calls until it is killed or the parent goes away.

export type ParentMessage = { type: 'args'; args: unknown } | { type: 'call'; id: number; command: string; args: unknown };

export type ChildMessage =
  | { type: 'hello' }
  | { type: 'ready'; info: unknown }
  | { type: 'failed'; message: string }
  | { type: 'reply'; id: number; ok: true; result: unknown }
  | { type: 'reply'; id: number; ok: false; message: string };

type Handler = (args: unknown) => Promise<unknown>;

function send(message: ChildMessage): void {
  process.send?.(message);
}

/**
 * Runs a child: `start` gets the parent's arguments and returns the ready info and the call
 * handlers. The child exits when the parent disconnects, so an aborted benchmark leaves nothing.
 */
export function runChild<Args>(start: (args: Args) => Promise<{ info: unknown; handlers: Record<string, Handler> }>): void {
  if (!process.send) {
    process.stderr.write('this script is started by bench/run.ts (npm run bench), not on its own\n');
    process.exit(2);
  }
  process.on('disconnect', () => process.exit());
  let handlers: Record<string, Handler> | null = null;
  process.on('message', (raw: ParentMessage) => {
    if (raw.type === 'args') {
      start(raw.args as Args).then(
        (started) => {
          handlers = started.handlers;
          send({ type: 'ready', info: started.info });
        },
        (err: Error) => {
          send({ type: 'failed', message: err.message });
          process.exitCode = 1;
          process.disconnect();
        },
      );
      return;
    }
    const handler = handlers?.[raw.command];
    if (!handler) {
      send({ type: 'reply', id: raw.id, ok: false, message: `unknown command ${raw.command}` });
      return;
    }
    handler(raw.args).then(
      (result) => send({ type: 'reply', id: raw.id, ok: true, result }),
      (err: Error) => send({ type: 'reply', id: raw.id, ok: false, message: err.message }),
    );
  });
  send({ type: 'hello' });
}
