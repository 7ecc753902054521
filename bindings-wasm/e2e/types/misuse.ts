// Misuse the type checker must catch (issue 17, item 3): each line under
// `@ts-expect-error` has to be an error, or tsc fails with "Unused
// '@ts-expect-error' directive".
import { connect, type MqttClient } from '../../npm/index.js';

export async function misuse(client: MqttClient): Promise<void> {
  // @ts-expect-error MQTT.js's option name: midge says `reconnect: { minDelay }`
  await connect('ws://h', { reconnectPeriod: 1000 });
  // @ts-expect-error a typo of clientId
  await connect('ws://h', { clientID: 'x' });
  // @ts-expect-error QoS is 0, 1 or 2
  await client.publish('t', 'x', { qos: 3 });
  // @ts-expect-error keepalive is a number of seconds
  await connect('ws://h', { keepalive: '60' });
  // @ts-expect-error a PublishResult has no `topic`
  (await client.publish('t', 'x', { qos: 1 })).topic;
  // @ts-expect-error subscribe's QoS as well
  await client.subscribe('t', { qos: 4 });
}
