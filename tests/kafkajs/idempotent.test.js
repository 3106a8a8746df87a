// kafkajs 2.2.4 idempotent producer against the real corelog binary, with a
// forced retry: the connection carrying the first Produce response is cut
// after the broker wrote the batch but before kafkajs read the reply, so
// kafkajs sends the same batch (same producer id and sequence) again.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')
const { Kafka, logLevel } = require('kafkajs')
const { useBroker, consumeFromBeginning } = require('./harness')

const broker = useBroker(['--cores', '2', '--group-initial-rebalance-delay-ms', '0'])

const PRODUCE = 0

// A socket factory whose sockets destroy themselves instead of delivering
// the first `cuts` Produce responses. It follows the frames in both
// directions: requests name their API and correlation id, responses only
// their correlation id.
function cuttingSocketFactory(state) {
  return ({ host, port, onConnect }) => {
    const socket = net.connect({ host, port }, onConnect)
    const apiOf = new Map()
    const write = socket.write.bind(socket)
    socket.write = (data, ...rest) => {
      const bytes = Buffer.from(data)
      // kafkajs writes each request frame whole.
      if (bytes.length >= 12) apiOf.set(bytes.readInt32BE(8), bytes.readInt16BE(4))
      return write(data, ...rest)
    }
    let header = Buffer.alloc(0)
    let remaining = 0
    const emit = socket.emit.bind(socket)
    socket.emit = (event, ...args) => {
      if (event !== 'data') return emit(event, ...args)
      let chunk = args[0]
      let offset = 0
      while (offset < chunk.length) {
        if (remaining > 0) {
          const step = Math.min(remaining, chunk.length - offset)
          remaining -= step
          offset += step
          continue
        }
        const needed = 8 - header.length
        header = Buffer.concat([header, chunk.subarray(offset, offset + needed)])
        offset += Math.min(needed, chunk.length - offset)
        if (header.length < 8) break
        const size = header.readInt32BE(0)
        const correlationId = header.readInt32BE(4)
        header = Buffer.alloc(0)
        remaining = size - 4
        if (apiOf.get(correlationId) === PRODUCE && state.cuts > 0) {
          state.cuts -= 1
          state.cut += 1
          socket.destroy(new Error('connection cut by the test after the broker wrote the batch'))
          return true
        }
      }
      return emit(event, ...args)
    }
    return socket
  }
}

test('idempotent producer: a reply lost after the write is retried and written once', async () => {
  const state = { cuts: 1, cut: 0 }
  const kafka = new Kafka({
    clientId: 'idempotent',
    brokers: [broker().brokers[0]],
    logLevel: logLevel.NOTHING,
    socketFactory: cuttingSocketFactory(state),
    retry: { initialRetryTime: 100, retries: 5 },
    requestTimeout: 5000,
  })
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic: 'idempotent', numPartitions: 1 }] })
  await admin.disconnect()

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  const first = [...Array(10).keys()].map((index) => ({ value: `first-${index}` }))
  const sent = await producer.send({ topic: 'idempotent', acks: -1, messages: first })
  assert.equal(state.cut, 1, 'the first Produce reply was cut')
  assert.equal(sent[0].baseOffset, '0', 'the retry is answered with the first write offset')
  const second = [...Array(10).keys()].map((index) => ({ value: `second-${index}` }))
  const sentAgain = await producer.send({ topic: 'idempotent', acks: -1, messages: second })
  assert.equal(sentAgain[0].baseOffset, '10', 'no hole and no duplicate before it')
  await producer.disconnect()

  const reader = new Kafka({ clientId: 'reader', brokers: [broker().brokers[0]], logLevel: logLevel.NOTHING })
  const received = await consumeFromBeginning(reader, { groupId: 'idempotent-readers', topic: 'idempotent', count: 20 })
  await new Promise((resolve) => setTimeout(resolve, 500))
  assert.deepEqual(received.map((r) => r.offset), [...Array(20).keys()])
  assert.deepEqual(received.map((r) => r.value), [...first, ...second].map((m) => m.value))
})
