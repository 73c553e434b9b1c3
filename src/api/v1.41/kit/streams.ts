/**
 * Streamed answers the way dockerd writes them: the output of a process in Docker's stream
 * format (stdcopy frames without a TTY, raw bytes with one), and long answers (wait, logs,
 * stats, events) whose headers go out at once and whose body follows while the client stays.
 */
import type { Response } from 'express';
import type { OutputSink, StreamName } from '../../../pod/service';
import { frame, type RawStream } from '../hijack';

/** A sink that writes Docker's stream format (framed without TTY, raw with one) to a raw stream. */
export function streamSink(raw: RawStream, tty: boolean): OutputSink {
  return {
    write: (s: StreamName, d: Buffer) => raw.write(tty ? d : frame(s, d)),
    drain: () => raw.drain(),
    end: () => raw.end(),
  };
}

/** A streamed answer whose headers are sent; `gone` turns true when the client goes away. */
export interface OpenStream {
  readonly gone: boolean;
}

/**
 * Start a streamed 200 answer: dockerd flushes the headers at once (a client of `wait` knows
 * the wait is registered, a `logs -f` client sees the stream begin before any output).
 */
export function openStream(res: Response, contentType: string): OpenStream {
  res.status(200).setHeader('Content-Type', contentType);
  res.flushHeaders();
  const state = { gone: false };
  res.on('close', () => {
    state.gone = true;
  });
  return state;
}

/** Wait `ms` milliseconds (the pace of a stats stream). */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
