/**
 * Request body of POST /volumes/create as a TypeBox schema (decoded by src/util/go-decode.ts with Go's
 * rules, like the other bodies).
 */
import { Type, type Static } from '@sinclair/typebox';

const O = Type.Optional;
const StrMap = () => Type.Record(Type.String(), Type.String());

/** volume.VolumeCreateBody */
export const VolumeCreateBodySchema = Type.Object(
  {
    Name: O(Type.String()),
    Driver: O(Type.String()),
    DriverOpts: O(StrMap()),
    Labels: O(StrMap()),
  },
  { goStruct: 'VolumeCreateBody', goType: 'volume.VolumeCreateBody' },
);

/** The decoded volume create body. */
export type VolumeCreateBody = Static<typeof VolumeCreateBodySchema>;
