// One AMQP connection: the handshake (start, tune, open), channel multiplexing, heartbeats,
// batched output and both kinds of backpressure (a full socket stops deliveries; a backlogged
// queue or a resource alarm pauses our reads of a publisher).
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { AmqpSyntaxError, Reader, type Writer } from '../amqp/codec.js';
import type { FieldTable } from '../amqp/field-table.js';
import { FrameReader, FrameWriter, PROTOCOL_HEADER, PROTOCOL_HEADER_0_9, type FrameHandler } from '../amqp/frames.js';
import * as M from '../amqp/methods.js';
import type { Broker } from '../broker/broker.js';
import { AmqpError, channelError, frameError, internalError, notAllowed, unexpectedFrame, accessRefused, commandInvalid } from '../broker/errors.js';
import type { FlowWaiter, Queue } from '../broker/queue.js';
import type { User } from '../broker/users.js';
import type { VHost } from '../broker/vhost.js';
import { Channel, replyText } from './channel.js';
import type { ServerContext } from './context.js';
import { refusedReason } from './sasl.js';
import { plainAddress } from './listen.js';

const enum State { Header, StartOk, TuneOk, Open, Opened, Closing, Closed }

/** Flush our own buffer to the socket once it holds this much, rather than wait for the turn. */
const FLUSH_AT = 128 * 1024;

/**
 * Input a connection may hand us before it yields to the others. libuv reads a ready socket up
 * to 32 times (64 KiB each) in one go: without a limit a flooding publisher holds the event loop
 * for megabytes at a time, and every other client waits behind it.
 */
const READ_SLICE = 64 * 1024;

let nextConnectionId = 1;

/** Deliveries a connection takes past a full socket before it drains (see mayOverfill). */
const OVERFILL_MAX = 400;

export class Connection implements FrameHandler, FlowWaiter {
  readonly id = nextConnectionId++;
  readonly out = new FrameWriter();
  readonly reader: FrameReader;
  readonly r = new Reader();
  readonly log: Logger;
  readonly remote: string;
  readonly connectedAt = Date.now();
  private state = State.Header;
  readonly channels = new Map<number, Channel>();
  frameMax = 131072;
  channelMax = 2047;
  heartbeat = 0;
  user: User | null = null;
  /** The user has the impersonator tag: user_id is not checked on publish. */
  impersonator = false;
  vhost: VHost | null = null;
  clientProperties: FieldTable = {};
  /** The SASL mechanism the client logged in with. */
  authMechanism = '';
  /** The socket can take more output; deliveries stop while false. */
  writable = true;
  /** Deliveries written while the socket was full (messages that would have expired otherwise). */
  overfilled = 0;

  /**
   * Whether a delivery may still be written while the socket is full (for a message that would
   * expire at once otherwise): RabbitMQ's credit-flow window between a queue and a channel's writer.
   */
  get mayOverfill(): boolean {
    return this.overfilled < OVERFILL_MAX;
  }
  /** Client capabilities we adapt to. */
  cancelNotify = false;
  blockedNotify = false;
  /** Queues holding this publisher back (flow control). */
  private readonly flowHolds = new Set<Queue>();
  /** Set by a resource alarm; reads pause once this connection publishes. */
  private alarm = false;
  private alarmBlocked = false;
  /** What the alarm is about (memory, disk), for connection.blocked's reason. */
  private alarmReason = '';
  private blockedSent = false;
  private readPaused = false;
  /** Input left before we yield the event loop to other connections (READ_SLICE). */
  private readBudget = READ_SLICE;
  private yielded = false;
  /** Broker shutdown: nothing more is read, whatever flow control or alarms say. */
  private readStopped = false;
  private flushQueued = false;
  private recvSinceTick = true;
  private sentSinceTick = false;
  private missedTicks = 0;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private closeTimer: NodeJS.Timeout | null = null;
  /** Channels with confirms to send at the next flush. */
  readonly confirmsDirty: Channel[] = [];

  // Stats for the management API.
  recvOct = 0;
  sendOct = 0;

  constructor(readonly socket: Socket, readonly broker: Broker, readonly ctx: ServerContext) {
    this.remote = `${plainAddress(socket.remoteAddress)}:${socket.remotePort}`;
    this.log = ctx.log.child({ conn: this.id, peer: this.remote });
    this.reader = new FrameReader(this);
    this.reader.maxFrame = M.FRAME_MIN_SIZE; // until tune-ok, as RabbitMQ
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.onDrain());
    socket.on('error', (err) => this.log.debug({ err: err.message }, 'socket error'));
    socket.on('close', () => this.onSocketClosed());
    socket.setTimeout(ctx.config.handshakeTimeoutMs, () => {
      if (this.state < State.Opened) {
        this.log.info('handshake timed out, closing');
        socket.destroy();
      }
    });
  }

  get isOpen(): boolean {
    return this.state === State.Opened;
  }

  get userName(): string {
    return this.user?.name ?? '';
  }

  // ------------------------------------------------------------------ input

  private onData(chunk: Buffer): void {
    this.recvSinceTick = true;
    this.recvOct += chunk.length;
    try {
      if (this.state === State.Header) {
        this.onHeader(chunk);
        return;
      }
      this.reader.push(chunk);
    } catch (err) {
      this.onUnexpectedError(err);
    }
    if (this.flowHolds.size !== 0 || this.alarmBlocked) this.pauseReading();
    else if ((this.readBudget -= chunk.length) <= 0) this.yieldReads();
  }

  /** Stops reading until the next turn of the event loop, so that other sockets are read first. */
  private yieldReads(): void {
    this.readBudget = READ_SLICE;
    if (this.yielded || this.readPaused) return;
    this.yielded = true;
    this.socket.pause();
    setImmediate(this.endYield);
  }

  private readonly endYield = (): void => {
    this.yielded = false;
    if (!this.readPaused && !this.socket.destroyed) this.socket.resume();
  };

  private onHeader(chunk: Buffer): void {
    // The 8 header bytes may arrive over several reads.
    if (this.headerBuf !== null || chunk.length < 8) {
      chunk = this.headerBuf === null ? chunk : Buffer.concat([this.headerBuf, chunk]);
      if (chunk.length < 8) {
        this.headerBuf = chunk;
        return;
      }
      this.headerBuf = null;
    }
    const header = chunk.subarray(0, 8);
    if (!header.equals(PROTOCOL_HEADER) && !header.equals(PROTOCOL_HEADER_0_9)) {
      this.log.info('wrong protocol header, answering with AMQP 0-9-1 and closing');
      this.socket.end(PROTOCOL_HEADER);
      this.state = State.Closed;
      return;
    }
    this.state = State.StartOk;
    this.send(0, M.encodeConnectionStart, {
      versionMajor: 0,
      versionMinor: 9,
      serverProperties: this.ctx.serverProperties,
      mechanisms: this.ctx.mechanisms.offered(this.socket),
      locales: Buffer.from('en_US'),
    });
    if (chunk.length > 8) this.reader.push(chunk.subarray(8));
  }

  private headerBuf: Buffer | null = null;

  onFrameError(message: string): void {
    this.closeWithError(frameError(message));
  }

  onFrame(type: number, channelId: number, buf: Buffer, start: number, end: number): void {
    if (this.state === State.Closed) return;
    if (type === M.FRAME_METHOD) {
      if (end - start < 4) {
        this.closeWithError(frameError(`method frame of ${end - start} bytes is too short for class and method ids`));
        return;
      }
      const r = this.r.reset(buf, start, end);
      const id = r.u32();
      try {
        if (channelId === 0) this.onConnectionMethod(id, r);
        else this.onChannelMethod(channelId, id, r, buf, start, end);
      } catch (err) {
        this.onMethodError(err, channelId, id);
      }
      return;
    }
    if (type === M.FRAME_HEARTBEAT) {
      if (channelId !== 0) this.closeWithError(unexpectedFrame(`heartbeat frame on channel ${channelId}`));
      else if (end !== start) this.closeWithError(frameError(`heartbeat frame with a ${end - start} byte payload`));
      return;
    }
    if (this.state !== State.Opened) {
      if (this.state !== State.Closing) this.closeWithError(unexpectedFrame(`frame type ${type} before the connection was opened`));
      return;
    }
    if (type === M.FRAME_HEADER || type === M.FRAME_BODY) {
      const ch = this.channels.get(channelId);
      if (ch === undefined) {
        this.closeWithError(unexpectedFrame(`expected method frame, got non method frame instead (channel ${channelId})`));
        return;
      }
      try {
        if (type === M.FRAME_HEADER) ch.onContentHeader(buf, start, end);
        else ch.onContentBody(buf, start, end);
      } catch (err) {
        this.onMethodError(err, channelId, M.BASIC_PUBLISH);
      }
      return;
    }
    this.closeWithError(frameError(`unknown frame type ${type}`));
  }

  private onMethodError(err: unknown, channelId: number, id: number): void {
    if (this.state === State.Closing || this.state === State.Closed) return;
    if (!(err instanceof AmqpError)) {
      if (err instanceof AmqpSyntaxError && err.exact) {
        err = new AmqpError(err.code, err.message);
      } else if (err instanceof AmqpSyntaxError) {
        // Arguments that do not parse: RabbitMQ's "cannot decode" frame error.
        err = frameError(`cannot decode ${M.METHOD_NAMES[id] ?? `method ${id >>> 16}/${id & 0xffff}`} arguments: ${err.message}`);
      } else {
        this.log.error({ err, method: M.METHOD_NAMES[id] }, 'internal error while handling a method; closing the connection (this is a bug in Warren, please report it)');
        err = internalError(`internal error in ${M.METHOD_NAMES[id] ?? 'method'}`);
      }
    }
    const e = err as AmqpError;
    if (!e.methodNamed) {
      e.classId = id >>> 16;
      e.methodId = id & 0xffff;
    }
    const ch = this.channels.get(channelId);
    if (e.hard || channelId === 0 || ch === undefined) this.closeWithError(e);
    else ch.closeWithError(e);
  }

  private onUnexpectedError(err: unknown): void {
    if (err instanceof AmqpSyntaxError) {
      this.closeWithError(new AmqpError(err.code, err.message));
      return;
    }
    this.log.error({ err }, 'internal error; closing the connection (this is a bug in Warren, please report it)');
    this.closeWithError(internalError('internal error'));
  }

  // ------------------------------------------------------ connection methods

  private onConnectionMethod(id: number, r: Reader): void {
    switch (this.state) {
      case State.StartOk:
        if (id !== M.CONNECTION_START_OK) throw commandInvalid(`expected 'connection.start_ok', got ${M.METHOD_NAMES[id] ?? id}`);
        return this.onStartOk(M.decodeConnectionStartOk(r));
      case State.TuneOk:
        if (id !== M.CONNECTION_TUNE_OK) throw commandInvalid(`expected 'connection.tune_ok', got ${M.METHOD_NAMES[id] ?? id}`);
        return this.onTuneOk(M.decodeConnectionTuneOk(r));
      case State.Open:
        // RabbitMQ's reader, past tune-ok, answers a wrong method as in the running state.
        if (id !== M.CONNECTION_OPEN) throw channelError('unexpected method in connection state opening');
        return this.onOpen(M.decodeConnectionOpen(r));
      case State.Closing:
        // We sent close: close-ok (or a crossing close) ends it, and closing the socket is ours.
        if (id === M.CONNECTION_CLOSE_OK || id === M.CONNECTION_CLOSE) {
          if (id === M.CONNECTION_CLOSE) this.send(0, M.encodeConnectionCloseOk);
          this.flush();
          this.finish(true);
        }
        return;
      case State.Closed:
        return;
    }
    switch (id) {
      case M.CONNECTION_CLOSE: {
        const a = M.decodeConnectionClose(r);
        this.log.debug({ code: a.replyCode, text: a.replyText }, 'client closed the connection');
        this.closeChannels();
        this.send(0, M.encodeConnectionCloseOk);
        this.state = State.Closing;
        this.flush();
        // The client sent close, so the client closes the socket once it reads close-ok.
        this.finish(false);
        return;
      }
      case M.CONNECTION_UPDATE_SECRET:
        // Only token-based auth backends use the new secret; PLAIN logins have nothing to refresh.
        M.decodeConnectionUpdateSecret(r);
        this.send(0, M.encodeConnectionUpdateSecretOk);
        return;
      default:
        throw channelError('unexpected method in connection state running');
    }
  }

  private onStartOk(a: M.ConnectionStartOk): void {
    this.clientProperties = a.clientProperties;
    const caps = a.clientProperties.capabilities;
    if (caps && typeof caps === 'object' && !Array.isArray(caps) && !Buffer.isBuffer(caps)) {
      const c = caps as FieldTable;
      this.cancelNotify = c.consumer_cancel_notify === true;
      this.blockedNotify = c['connection.blocked'] === true;
    }
    const creds = this.ctx.mechanisms.credentials(a.mechanism, a.response, this.socket);
    if (creds === null) {
      this.refuseLogin(null, '', `unknown SASL mechanism ${a.mechanism} or malformed response`);
      return;
    }
    const user = creds.password === null ? (this.broker.users.users.get(creds.username) ?? null) : this.broker.users.authenticate(creds.username, creds.password);
    if (user === null) {
      this.refuseLogin(a.mechanism, creds.username, refusedReason(creds));
      return;
    }
    if (this.broker.users.loopbackOnly.has(user.name) && !isLoopback(this.socket.remoteAddress)) {
      this.refuseLogin(a.mechanism, user.name, 'user can only connect via localhost');
      return;
    }
    this.broker.auth.record('amqp091', plainAddress(this.socket.remoteAddress), user.name, true);
    this.user = user;
    this.impersonator = user.tags.includes('impersonator');
    this.authMechanism = a.mechanism;
    this.state = State.TuneOk;
    this.send(0, M.encodeConnectionTune, {
      channelMax: this.ctx.config.channelMax,
      frameMax: this.ctx.config.frameMax,
      heartbeat: this.ctx.config.heartbeat,
    });
  }

  /**
   * A refused login, as RabbitMQ handles it: clients that announce authentication_failure_close
   * get connection.close 403 naming no method; others (and malformed attempts) just see the
   * socket close. Counted, and logged once (rate-limited: a flood must not flood the log).
   */
  private refuseLogin(mechanism: string | null, username: string, reason: string): void {
    this.broker.auth.record('amqp091', plainAddress(this.socket.remoteAddress), username, false);
    this.ctx.failedLogins.refused('AMQP', this.remote, username, mechanism === null ? reason : `${reason} (${mechanism})`);
    const caps = this.clientProperties.capabilities as FieldTable | undefined;
    if (mechanism !== null && caps?.authentication_failure_close === true) {
      this.closeWithError(accessRefused(`Login was refused using authentication mechanism ${mechanism}. For details see the broker logfile.`), false);
      return;
    }
    // connection.start may still be in our buffer (a client that sent start-ok without waiting for it).
    this.flush();
    this.state = State.Closing;
    this.reader.stopped = true;
    this.finish(true);
  }

  private onTuneOk(a: M.ConnectionTuneOk): void {
    const cfg = this.ctx.config;
    const fail = (field: string, value: number, limit: number, higher: boolean) => notAllowed(
      `negotiated ${field} = ${value}${value === 0 ? ' (no limit)' : ''} is ${higher ? 'higher' : 'lower'} than the `
      + `${higher ? 'maximum' : 'minimum'} allowed value (${limit})`);
    if (a.frameMax !== 0 && a.frameMax < M.FRAME_MIN_SIZE) throw fail('frame_max', a.frameMax, M.FRAME_MIN_SIZE, false);
    // 0 means "no limit", which is above ours.
    if (a.frameMax === 0 || a.frameMax > cfg.frameMax) throw fail('frame_max', a.frameMax, cfg.frameMax, true);
    if (a.channelMax === 0 || a.channelMax > cfg.channelMax) throw fail('channel_max', a.channelMax, cfg.channelMax, true);
    this.frameMax = a.frameMax;
    this.channelMax = a.channelMax;
    this.heartbeat = a.heartbeat;
    this.reader.maxFrame = this.frameMax;
    this.state = State.Open;
    this.startHeartbeat();
  }

  private onOpen(a: M.ConnectionOpen): void {
    this.vhost = this.broker.openVhost(this.userName, a.virtualHost, this);
    this.state = State.Opened;
    this.socket.setTimeout(0);
    this.ctx.connections.add(this);
    this.broker.churn.connectionsOpened++;
    this.send(0, M.encodeConnectionOpenOk, { knownHosts: '' });
    this.log.info({ user: this.userName, vhost: a.virtualHost }, 'connection opened');
    if (this.broker.alarms.size > 0) this.onAlarm(true, [...this.broker.alarms].join(','));
  }

  // --------------------------------------------------------- channel methods

  private onChannelMethod(channelId: number, id: number, r: Reader, buf: Buffer, start: number, end: number): void {
    if (this.state !== State.Opened) {
      if (this.state === State.Closing) return;
      // RabbitMQ's reader refuses any frame on a channel before connection.open with 505.
      throw unexpectedFrame(`method frame on channel ${channelId} before the connection was opened`);
    }
    const ch = this.channels.get(channelId);
    if (ch === undefined) {
      // Our close of this channel crossed the client's: its close-ok for ours may still come.
      if (this.closedCrossing.delete(channelId) && (id === M.CHANNEL_CLOSE_OK || id === M.CHANNEL_CLOSE)) {
        if (id === M.CHANNEL_CLOSE) this.send(channelId, M.encodeChannelCloseOk);
        return;
      }
      if (id !== M.CHANNEL_OPEN) throw channelError(`expected 'channel.open'`);
      // channel_max limits how many channels are open at once, not their numbers.
      if (this.channels.size >= this.channelMax) {
        throw notAllowed(`number of channels opened (${this.channels.size}) has reached the negotiated channel_max (${this.channelMax})`);
      }
      this.broker.checkChannelLimit(this.userName);
      M.decodeChannelOpen(r);
      const opened = new Channel(this, channelId);
      this.channels.set(channelId, opened);
      this.broker.churn.channelsOpened++;
      this.send(channelId, M.encodeChannelOpenOk, { channelId: Buffer.alloc(0) });
      return;
    }
    ch.onMethod(id, r, buf, start, end);
  }

  /**
   * The channel finished closing; its number can be reused. `crossing`: we had sent channel.close
   * when the client's own close arrived, so the client will still answer ours with close-ok.
   */
  channelClosed(ch: Channel, crossing = false): void {
    if (this.channels.get(ch.id) === ch) this.channels.delete(ch.id);
    if (crossing) this.closedCrossing.add(ch.id);
  }

  /** Channels closed by crossing closes whose close-ok from the client is still to come. */
  private readonly closedCrossing = new Set<number>();

  // ----------------------------------------------------------------- output

  send<A>(channel: number, encode: (w: Writer, a: A) => void, args?: A): void {
    this.out.method(channel, encode as (w: Writer, a: A | undefined) => void, args);
    this.scheduleFlush();
  }

  /** Called after writing a delivery into `out`: keeps the buffer bounded. */
  wrote(): void {
    if (this.out.pos >= FLUSH_AT) this.flush();
    else this.scheduleFlush();
  }

  scheduleFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    this.ctx.flusher.add(this);
  }

  flush(): void {
    this.flushQueued = false;
    if (this.confirmsDirty.length !== 0) {
      for (const ch of this.confirmsDirty) ch.writeConfirms();
      this.confirmsDirty.length = 0;
    }
    if (this.out.pos === 0 || this.socket.destroyed) return;
    // What this output may tell the client (a reply after its acks) must be on disk first.
    this.ctx.flusher.beforeWrite?.();
    const data = this.out.take();
    this.sendOct += data.length;
    this.sentSinceTick = true;
    if (!this.socket.write(data)) this.writable = false;
  }

  private onDrain(): void {
    if (this.writable) return;
    this.writable = true;
    this.overfilled = 0;
    for (const ch of this.channels.values()) ch.resumeDeliveries();
  }

  // ----------------------------------------------------- flow and alarms

  /** A queue this connection published to is backlogged: stop reading after this chunk. */
  holdFlow(q: Queue): void {
    if (q.holdPublisher(this)) this.flowHolds.add(q);
  }

  releaseFlow(q: Queue): void {
    this.flowHolds.delete(q);
    this.maybeResume();
  }

  /**
   * A resource alarm changed. As in RabbitMQ, a connection is only blocked (and told so with
   * connection.blocked) once it publishes while the alarm lasts; consumers carry on.
   */
  onAlarm(on: boolean, reason: string): void {
    if (this.state !== State.Opened) return;
    this.alarm = on;
    this.alarmReason = reason;
    if (on) return;
    if (this.blockedSent) {
      this.send(0, M.encodeConnectionUnblocked);
      this.blockedSent = false;
    }
    if (this.alarmBlocked) {
      this.alarmBlocked = false;
      this.maybeResume();
      try {
        this.reader.resume();
      } catch (err) {
        this.onUnexpectedError(err);
      }
    }
  }

  /** A basic.publish arrived: under an alarm, stop processing frames right after it. */
  published(): void {
    if (!this.alarm || this.alarmBlocked) return;
    this.alarmBlocked = true;
    this.reader.paused = true;
    if (this.blockedNotify && !this.blockedSent) {
      this.send(0, M.encodeConnectionBlocked, { reason: `low on ${this.alarmReason}` });
      this.blockedSent = true;
    }
    this.pauseReading();
  }

  private pauseReading(): void {
    if (this.readPaused) return;
    this.readPaused = true;
    this.socket.pause();
  }

  /** Broker shutdown: publishes received so far are all there will be (their confirms follow the store's last sync). */
  stopReading(): void {
    this.readStopped = true;
    this.pauseReading();
  }

  private maybeResume(): void {
    if (!this.readPaused || this.readStopped || this.flowHolds.size !== 0 || this.alarmBlocked) return;
    this.readPaused = false;
    this.socket.resume();
  }

  get blockedState(): string {
    if (this.alarmBlocked) return 'blocked';
    if (this.alarm) return 'blocking';
    return this.flowHolds.size !== 0 ? 'flow' : 'running';
  }

  // ------------------------------------------------------------- heartbeats

  private startHeartbeat(): void {
    if (this.heartbeat === 0) return;
    // Tick at half the interval: send when idle for a tick, give up after two silent intervals.
    const tickMs = (this.heartbeat * 1000) / 2;
    this.heartbeatTimer = setInterval(() => {
      if (!this.sentSinceTick) {
        this.out.heartbeat();
        this.flush();
      }
      this.sentSinceTick = false;
      // While we are not reading (blocked publisher, flow control) the client's heartbeats wait
      // unread in the socket: silence then is ours, not the client's.
      if (this.recvSinceTick || this.readPaused) {
        this.recvSinceTick = false;
        this.missedTicks = 0;
      } else if (++this.missedTicks >= 4) {
        this.log.warn({ timeout: this.heartbeat }, `missed heartbeats from client, timeout: ${this.heartbeat}s; closing`);
        this.socket.destroy();
      }
    }, tickMs);
    this.heartbeatTimer.unref();
  }

  // ---------------------------------------------------------------- closing

  /** Connection exception: send connection.close, wait briefly for close-ok, then drop. `log`: false when the caller logged why. */
  closeWithError(e: AmqpError, log = true): void {
    if (this.state === State.Closing || this.state === State.Closed) return;
    if (log) this.log[e.code === 403 || e.code === 530 ? 'warn' : 'info']({ code: e.code, text: e.message }, 'closing connection on error');
    this.closeChannels();
    this.send(0, M.encodeConnectionClose, { replyCode: e.code, replyText: replyText(e.message), classId: e.classId, methodId: e.methodId });
    this.state = State.Closing;
    this.flush();
    this.closeTimer = setTimeout(() => this.finish(true), 1000);
    this.closeTimer.unref();
  }

  /** Server-initiated close (shutdown, management API). */
  forceClose(reason: string): void {
    const e = new AmqpError(320, reason);
    this.closeWithError(e);
  }

  private closeChannels(): void {
    for (const ch of this.channels.values()) ch.release();
    this.channels.clear();
    this.vhost?.connectionClosed(this);
  }

  /** Ends the protocol; closes the socket now if that is our side's job, else soon if the peer doesn't. */
  private finish(closeSocket: boolean): void {
    if (this.state === State.Closed) return;
    this.state = State.Closed;
    this.reader.stopped = true;
    if (this.closeTimer) clearTimeout(this.closeTimer);
    if (closeSocket) this.socket.end();
    setTimeout(() => this.socket.destroy(), closeSocket ? 100 : 3000).unref();
  }

  private onSocketClosed(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.closeTimer) clearTimeout(this.closeTimer);
    if (this.state !== State.Closed && this.state !== State.Closing && this.state >= State.Opened) {
      this.log.info('client unexpectedly closed TCP connection');
    }
    this.closeChannels();
    this.state = State.Closed;
    this.reader.stopped = true;
    this.flowHolds.clear();
    if (this.ctx.connections.delete(this)) {
      this.broker.churn.connectionsClosed++;
      this.log.info('connection closed');
    }
  }
}

function isLoopback(addr: string | undefined): boolean {
  if (!addr) return false;
  return addr === '::1' || addr.startsWith('127.') || addr.startsWith('::ffff:127.');
}
