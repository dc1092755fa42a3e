/**
 * Runs a gateway on a port and stops it gracefully: stop accepting, end event streams, let
 * in-flight requests finish (up to a grace period), then release the Temporal connection.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Gateway } from './app';

export interface RunningGateway {
  url: string;
  server: Server;
  /** Resolves once every connection is closed and `onClosed` (e.g. the Temporal connection) ran. */
  close(): Promise<void>;
}

export interface StartOptions {
  host: string;
  port: number;
  /** In-flight requests get this long to finish before their connections are cut. */
  graceMs: number;
  onClosed?: () => Promise<void>;
}

export async function startGateway(gateway: Gateway, options: StartOptions): Promise<RunningGateway> {
  const server: Server = await new Promise((resolve, reject) => {
    const s = gateway.app.listen(options.port, options.host, () => resolve(s));
    s.once('error', reject);
  });
  // Slow or idle clients must not hold sockets forever.
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;
  // A client reuses an idle socket until its own idle timeout (fetch: 4 s). Node's 5 s default let
  // the server close sockets a stalled client was already writing to (ECONNRESET under load); idle
  // sockets now outlive any client's, so the client always closes first.
  server.keepAliveTimeout = 65_000;
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    server,
    close: () =>
      (closing ??= new Promise<void>((resolve, reject) => {
        gateway.stopStreams();
        // A keep-alive socket goes idle after its response; close those as they appear.
        const sweep = setInterval(() => server.closeIdleConnections(), 50);
        const cut = setTimeout(() => server.closeAllConnections(), options.graceMs);
        server.close((err) => {
          clearInterval(sweep);
          clearTimeout(cut);
          if (err) return reject(err);
          (options.onClosed?.() ?? Promise.resolve()).then(resolve, reject);
        });
        server.closeIdleConnections();
      })),
  };
}
