// Child process: the simulated Gitaly fleet (scale mode), apart from the exporter so that serving
// pages and answering handshakes is not counted as the exporter's CPU.
import { startDemoFleet } from '../src/demo/fleet.ts';
import { demoNodeConfig } from '../src/demo/demo-config.ts';
import type { NodeConfig } from '../src/config/types.ts';
import { runChild } from './ipc.ts';

export interface FleetArgs {
  dir: string;
  scale: number;
  metricsPageBytes?: number;
  /** Loopback address to listen on (default 127.0.0.1): fleets on different addresses can reuse port numbers. */
  host?: string;
}

export interface FleetInfo {
  caFile: string;
  nodes: NodeConfig[];
}

runChild<FleetArgs>(async (args) => {
  const fleet = await startDemoFleet({
    dir: args.dir,
    scale: args.scale,
    ...(args.host ? { host: args.host } : {}),
    ...(args.metricsPageBytes ? { metricsPageBytes: args.metricsPageBytes } : {}),
  });
  const nodes: NodeConfig[] = fleet.nodes.map(demoNodeConfig);
  const info: FleetInfo = { caFile: fleet.caFile, nodes };
  return { info, handlers: {} };
});
