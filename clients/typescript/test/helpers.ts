// helpers.ts: what the integration tests share: the servers of
// `switchyard testenv` (SY_TEST_NATS_URL, SY_TEST_PG_CONNINFO), the built
// binary, a fresh database, a real `switchyard serve` with its own subject
// prefix and streams, and small waits. Nothing here is a mock.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createServer, type AddressInfo } from "node:net";
import { connect, type NatsConnection } from "@nats-io/transport-node";

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));

/** The repository's root: SY_SOURCE_DIR, else found from this file. */
export const sourceDir = process.env.SY_SOURCE_DIR ?? resolve(here, "../../../..");
/** The switchyard binary under test. */
export const switchyard = process.env.SWITCHYARD_BIN ?? join(sourceDir, "build/switchyard");

export function natsUrl(): string {
  const u = process.env.SY_TEST_NATS_URL;
  if (!u) throw new Error("SY_TEST_NATS_URL is not set: run under `switchyard testenv`");
  return u;
}

export function pgAdmin(): string {
  const c = process.env.SY_TEST_PG_CONNINFO;
  if (!c) throw new Error("SY_TEST_PG_CONNINFO is not set: run under `switchyard testenv`");
  return c;
}

/** Drops and creates database `name`; returns its conninfo. */
export async function freshDb(name: string): Promise<string> {
  await run("psql", [pgAdmin(), "-qAt", "-v", "ON_ERROR_STOP=1", "-c", `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`]);
  await run("psql", [pgAdmin(), "-qAt", "-v", "ON_ERROR_STOP=1", "-c", `CREATE DATABASE ${name}`]);
  return pgAdmin().replace(/dbname=\S+/, `dbname=${name}`);
}

export async function sql(conninfo: string, query: string): Promise<string> {
  const { stdout } = await run("psql", [conninfo, "-qAt", "-v", "ON_ERROR_STOP=1", "-c", query]);
  return stdout.trim();
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls fn until it returns a truthy value or timeoutMs passes. */
export async function waitFor<T>(what: string, fn: () => Promise<T> | T, timeoutMs = 20000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

export async function cli(args: string[], env: Record<string, string> = {}): Promise<string> {
  const { stdout } = await run(switchyard, args, { env: { ...process.env, ...env } });
  return stdout;
}

export interface Service {
  prefix: string;
  eventsSubject: string;
  db: string;
  dir: string;
  nc: NatsConnection;
  proc: ChildProcess;
  logs: () => string;
  stop(): Promise<void>;
}

/** Starts `switchyard serve` on a fresh database with rules (YAML text),
 * its own subject prefix (outcomes and reports under "<prefix>.>", events
 * under "<prefix>ev.>") and an optional keyring, and waits for /readyz. */
export async function startService(name: string, rules: string, opts: { keyring?: string } = {}): Promise<Service> {
  const dir = mkdtempSync(join(tmpdir(), `sy-${name}-`));
  const db = await freshDb(name);
  const prefix = name;
  writeFileSync(join(dir, "rules.yaml"), rules);
  let keyring = "";
  if (opts.keyring) {
    writeFileSync(join(dir, "keyring"), opts.keyring);
    keyring = `envelope: { keyring: "${join(dir, "keyring")}" }\n`;
  }
  // A port the kernel just handed out can still be taken by someone else
  // before serve binds it (tests run in parallel): then serve exits with
  // "could not listen" and we try again on another port.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const cfg =
      `nats: { urls: ["${natsUrl()}"] }\n` +
      `postgres: { conninfo: "${db}", migrate: true }\n` +
      `stream: { name: ${name.toUpperCase()}_EV, subjects: ["${prefix}ev.>"], storage: memory, ` +
      `outcomes_name: ${name.toUpperCase()}_SY, outcomes_subjects: ["${prefix}.>"] }\n` +
      `consumer: { batch_size: 64, fetch_wait: 20ms }\n` +
      `engine: { subject_prefix: ${prefix} }\n` +
      keyring +
      `rules: { path: "${join(dir, "rules.yaml")}" }\n` +
      `admin: { listen: "127.0.0.1:${port}" }\n` +
      `log: { level: warn }\n`;
    writeFileSync(join(dir, "serve.yaml"), cfg);
    const started = await spawnServe(join(dir, "serve.yaml"), port);
    if (started.proc) return service(prefix, db, dir, started.proc, started.logs);
    if (attempt >= 5 || !started.logs().includes("could not listen"))
      throw new Error(`switchyard serve exited before it was ready:\n${started.logs()}`);
  }
}

/** A loopback TCP port that was free a moment ago (the kernel's choice). */
function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as AddressInfo).port;
      srv.close(() => ok(port));
    });
  });
}

/** Spawns serve and waits for /readyz; proc is null when serve exited
 * first (its output in logs). */
async function spawnServe(config: string, port: number): Promise<{ proc: ChildProcess | null; logs: () => string }> {
  let out = "";
  const proc = spawn(switchyard, ["serve", "--config", config], { stdio: ["ignore", "pipe", "pipe"] });
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (out += d));
  const logs = () => out;
  const exited = () => proc.exitCode !== null || proc.signalCode !== null;
  const ready = await waitFor(
    "switchyard serve to be ready",
    async () => {
      if (exited()) return "exited";
      try {
        return (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200 ? "ready" : false;
      } catch {
        return false;
      }
    },
    90000, // serve migrates a fresh database first, slow on a loaded box
  );
  return { proc: ready === "ready" ? proc : null, logs };
}

async function service(prefix: string, db: string, dir: string, proc: ChildProcess, logs: () => string): Promise<Service> {
  const nc = await connect({ servers: natsUrl() });
  return {
    prefix,
    eventsSubject: `${prefix}ev.test`,
    db,
    dir,
    nc,
    proc,
    logs,
    async stop() {
      await nc.close();
      proc.kill("SIGTERM");
      await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once("exit", r)));
    },
  };
}

/** The state of the latest run of a workflow ID ("" when none). */
export async function runStatus(svc: Service, workflowId: string): Promise<string> {
  return sql(svc.db, `SELECT status FROM switchyard.workflow_ids WHERE workflow_id = '${workflowId}'`);
}

/** The latest run's result as JSON text. */
export async function runResult(svc: Service, workflowId: string): Promise<unknown> {
  const r = await sql(svc.db, `SELECT result FROM switchyard.runs WHERE workflow_id = '${workflowId}' ORDER BY started_at DESC LIMIT 1`);
  return r ? JSON.parse(r) : null;
}

/** How many history events of a type the workflow's runs have. */
export async function historyCount(svc: Service, workflowId: string, type: string): Promise<number> {
  return Number(
    await sql(
      svc.db,
      `SELECT count(*) FROM switchyard.history_events h JOIN switchyard.runs r USING (run_id) WHERE r.workflow_id = '${workflowId}' AND h.type = '${type}'`,
    ),
  );
}

/** Waits until the workflow's latest run is closed; returns its status. */
export async function waitClosed(svc: Service, workflowId: string, timeoutMs = 30000): Promise<string> {
  try {
    return await waitFor(
      `workflow ${workflowId} to close`,
      async () => {
        const s = await runStatus(svc, workflowId);
        return s && s !== "running" ? s : "";
      },
      timeoutMs,
    );
  } catch (e) {
    // say what the service saw: the run's state, dead letters, its log
    const dl = await sql(svc.db, "SELECT code || ': ' || message FROM switchyard.dead_letters ORDER BY id DESC LIMIT 5").catch((x) => String(x));
    throw new Error(`${(e as Error).message} (status "${await runStatus(svc, workflowId)}"; dead letters: ${dl || "none"}; serve log:\n${svc.logs().slice(-3000)})`);
  }
}

/** The conformance corpus shared with the Go client (clients/testdata). */
export interface Case {
  name: string;
  bytes: Buffer;
}
export function corpus(): Case[] {
  const d = JSON.parse(readFileSync(join(sourceDir, "clients/testdata/envelopes.json"), "utf8"));
  return d.cases.map((c: { name: string; body?: string; hex?: string; repeat?: { prefix: string; fill: string; count: number; suffix: string } }) => ({
    name: c.name,
    bytes:
      c.hex !== undefined
        ? Buffer.from(c.hex, "hex")
        : c.repeat
          ? Buffer.from(c.repeat.prefix + c.repeat.fill.repeat(c.repeat.count) + c.repeat.suffix)
          : Buffer.from(c.body!, "utf8"),
  }));
}
