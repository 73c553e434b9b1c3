/**
 * Request bodies of the /networks routes as TypeBox schemas (decoded by src/util/go-decode.ts with
 * Go's rules, like the other bodies): network create, connect and disconnect.
 */
import { Type, type Static } from '@sinclair/typebox';

const O = Type.Optional;
const Str = () => Type.String();
const Bool = () => Type.Boolean();
const StrMap = () => Type.Record(Type.String(), Type.String());
const StrList = () => Type.Array(Type.String());

/** network.IPAMConfig */
const IpamConfigSchema = Type.Object(
  {
    Subnet: O(Str()),
    IPRange: O(Str()),
    Gateway: O(Str()),
    AuxiliaryAddresses: O(StrMap()),
  },
  { goStruct: 'IPAMConfig', goType: 'network.IPAMConfig' },
);

/** types.NetworkCreateRequest */
export const NetworkCreateBodySchema = Type.Object(
  {
    Name: O(Str()),
    CheckDuplicate: O(Bool()),
    Driver: O(Str()),
    Scope: O(Str()),
    EnableIPv6: O(Bool()),
    IPAM: O(
      Type.Object(
        {
          Driver: O(Str()),
          Config: O(Type.Array(IpamConfigSchema, { goType: '[]network.IPAMConfig' })),
          Options: O(StrMap()),
        },
        { goStruct: 'IPAM', goType: 'network.IPAM' },
      ),
    ),
    Internal: O(Bool()),
    Attachable: O(Bool()),
    Ingress: O(Bool()),
    ConfigOnly: O(Bool()),
    ConfigFrom: O(
      Type.Object({ Network: O(Str()) }, { goStruct: 'ConfigReference', goType: 'network.ConfigReference' }),
    ),
    Options: O(StrMap()),
    Labels: O(StrMap()),
  },
  { goStruct: 'NetworkCreateRequest', goType: 'types.NetworkCreateRequest' },
);

/** types.NetworkConnect */
export const NetworkConnectBodySchema = Type.Object(
  {
    Container: O(Str()),
    EndpointConfig: O(
      Type.Object(
        {
          IPAMConfig: O(
            Type.Object(
              { IPv4Address: O(Str()), IPv6Address: O(Str()), LinkLocalIPs: O(StrList()) },
              { goStruct: 'EndpointIPAMConfig', goType: 'network.EndpointIPAMConfig' },
            ),
          ),
          Links: O(StrList()),
          Aliases: O(StrList()),
          MacAddress: O(Str()),
          DriverOpts: O(StrMap()),
        },
        { goStruct: 'EndpointSettings', goType: 'network.EndpointSettings' },
      ),
    ),
  },
  { goStruct: 'NetworkConnect', goType: 'types.NetworkConnect' },
);

/** types.NetworkDisconnect */
export const NetworkDisconnectBodySchema = Type.Object(
  { Container: O(Str()), Force: O(Bool()) },
  { goStruct: 'NetworkDisconnect', goType: 'types.NetworkDisconnect' },
);

/** The decoded network create body. */
export type NetworkCreateBody = Static<typeof NetworkCreateBodySchema>;
