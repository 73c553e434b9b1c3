/**
 * Request body of POST /containers/:id/checkpoints as a TypeBox schema (decoded by
 * src/util/go-decode.ts with Go's rules, like the other bodies).
 */
import { Type, type Static } from '@sinclair/typebox';

const O = Type.Optional;

/** types.CheckpointCreateOptions */
export const CheckpointCreateBodySchema = Type.Object(
  {
    CheckpointID: O(Type.String()),
    CheckpointDir: O(Type.String()),
    Exit: O(Type.Boolean()),
    /** A podvisor extension: save the container as this image (docs/checkpoint-images.md). */
    Image: O(Type.String()),
  },
  { goStruct: 'CheckpointCreateOptions', goType: 'types.CheckpointCreateOptions' },
);

/** The decoded checkpoint create body. */
export type CheckpointCreateBody = Static<typeof CheckpointCreateBodySchema>;
