import { once } from 'node:events';
import { connect as connectTcp, createServer, type Socket } from 'node:net';

/**
 * A TCP proxy in front of `target` whose `cut()` destroys every open connection (an abrupt drop,
 * no close frame); `down()` also refuses new ones until `up()`, so a test can act while a client
 * is certainly disconnected.
 */
export async function startCuttableProxy(target: URL) {
  const sockets = new Set<Socket>();
  let refusing = false;
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  };
  const server = createServer((downstream) => {
    if (refusing) return downstream.destroy();
    const upstream = connectTcp(Number(target.port), target.hostname);
    track(downstream);
    track(upstream);
    downstream.pipe(upstream).pipe(downstream);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return {
    /** `target` with the proxy's host and port. */
    url: Object.assign(new URL(target.href), { host: `127.0.0.1:${port}` }).href,
    /** Connections open now (both sides count). */
    get socketCount() {
      return sockets.size;
    },
    cut() {
      for (const socket of sockets) socket.destroy();
    },
    /** Cuts every connection and refuses new ones (each is closed as soon as it is accepted). */
    down() {
      refusing = true;
      this.cut();
    },
    up() {
      refusing = false;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

export type CuttableProxy = Awaited<ReturnType<typeof startCuttableProxy>>;
