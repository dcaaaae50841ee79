/** AMQP_URL as a broker list: each URL read into the object amqplib connects to, as it reads the string. */
import { describe, expect, it } from 'vitest';
import { brokerTarget, brokerUrls, spreadIndex } from '../../../shared/bus/rabbitmq-bus.js';

describe('RabbitMQ broker list', () => {
  it('when a URL carries credentials, a vhost and tuning parameters, then the target holds each, decoded', () => {
    expect(brokerTarget('amqps://us%40er:p%3Ass@[::1]:5671/shop%2Fprod?heartbeat=10&frameMax=8192')).toEqual({
      protocol: 'amqps',
      hostname: '::1',
      port: 5671,
      username: 'us@er',
      password: 'p:ss',
      vhost: 'shop%2Fprod', // amqplib unescapes the object form's vhost itself
      heartbeat: 10,
      frameMax: 8192,
      channelMax: undefined,
      maxFrameSize: undefined,
      locale: undefined,
    });
  });

  it('when a password holds a raw %, then it is taken as written, as amqplib takes the string form', () => {
    expect(brokerTarget('amqp://u:p%zz@mq1')).toMatchObject({ username: 'u', password: 'p%zz' });
  });

  it('when a URL has no credentials, port or vhost, then they stay unset (amqplib: guest, 5672, /)', () => {
    expect(brokerTarget('amqp://mq1')).toMatchObject({
      protocol: 'amqp',
      hostname: 'mq1',
      port: undefined,
      username: undefined,
      password: undefined,
      vhost: undefined,
    });
  });

  it('when AMQP_URL lists brokers, then they are split on commas, and node ids spread over them', () => {
    expect(brokerUrls(' amqp://a , amqp://b,')).toEqual(['amqp://a', 'amqp://b']);
    const starts = new Set(Array.from({ length: 30 }, (_, i) => spreadIndex(`node-${i}`, 3)));
    expect(starts).toEqual(new Set([0, 1, 2]));
    expect(spreadIndex('node-7', 3)).toBe(spreadIndex('node-7', 3));
  });
});
