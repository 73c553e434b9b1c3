/** Types of unbzip2-stream, which ships none: a factory of a duplex bzip2 decoder. */
declare module 'unbzip2-stream' {
  import type { Duplex } from 'node:stream';
  /** A new decoder: bzip2 bytes written in, the decoded bytes read out. */
  function unbzip2(): Duplex;
  export default unbzip2;
}
