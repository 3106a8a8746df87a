#!/usr/bin/env node
// A kafkajs load test, as users run against their brokers: several producers
// and consumers (one consumer group) on one topic, for a number of messages
// or a duration. Reports messages/s, MB/s, send (ack) latency and end-to-end
// latency (CreateTime to arrival) percentiles as a table and one JSON line,
// with a progress line every second.
//
//   node load.js --bootstrap localhost:9092 --topic load --producers 4 \
//     --consumers 2 --messages 100000 --size 1024 --batch 100 --acks -1
// --rate caps the total messages/s; --producers 0 only consumes --messages
// already in the topic (a catch-up read).
const { Kafka, logLevel, CompressionTypes } = require('kafkajs')

function options(argv) {
  const defaults = {
    bootstrap: 'localhost:9092', topic: 'kafkajs-load', producers: 2, consumers: 2, partitions: 6,
    messages: 0, seconds: 10, size: 1024, batch: 100, acks: -1, compression: 'none', json: '', rate: 0,
  }
  for (let index = 0; index < argv.length; index += 2) {
    const name = argv[index].replace(/^--/, '')
    if (!(name in defaults)) throw new Error(`unknown option --${name}`)
    defaults[name] = typeof defaults[name] === 'number' ? Number(argv[index + 1]) : argv[index + 1]
  }
  return defaults
}

// Percentiles of recorded latencies (milliseconds), exact: kept sorted once.
class Latencies {
  constructor() { this.values = [] }
  record(value) { this.values.push(value) }
  summary() {
    const sorted = Float64Array.from(this.values).sort()
    const at = (quantile) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(quantile * sorted.length))] : 0)
    return { p50: at(0.5), p99: at(0.99), p99_9: at(0.999), max: sorted.length ? sorted[sorted.length - 1] : 0 }
  }
}

async function main() {
  const config = options(process.argv.slice(2))
  const kafka = new Kafka({ clientId: 'kafkajs-load', brokers: config.bootstrap.split(','), logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic: config.topic, numPartitions: config.partitions }] })
  await admin.disconnect()

  const target = config.messages > 0 ? config.messages : Infinity
  const deadline = config.messages > 0 ? Infinity : Date.now() + config.seconds * 1000
  const produced = { messages: 0, bytes: 0, latency: new Latencies() }
  const consumed = { messages: 0, bytes: 0, latency: new Latencies() }
  const value = Buffer.alloc(config.size, 'k')
  const codec = { none: CompressionTypes.None, gzip: CompressionTypes.GZIP }[config.compression]

  const consumers = []
  for (let index = 0; index < config.consumers; index++) {
    const consumer = kafka.consumer({ groupId: `${config.topic}-load`, maxWaitTimeInMs: 100 })
    await consumer.connect()
    await consumer.subscribe({ topic: config.topic, fromBeginning: true })
    await consumer.run({
      eachBatch: async ({ batch }) => {
        const now = Date.now()
        for (const message of batch.messages) {
          consumed.messages += 1
          consumed.bytes += message.value ? message.value.length : 0
          consumed.latency.record(now - Number(message.timestamp))
        }
      },
    })
    consumers.push(consumer)
  }

  const started = Date.now()
  const progress = setInterval(() => {
    const seconds = (Date.now() - started) / 1000
    process.stderr.write(`[${seconds.toFixed(0).padStart(4)}s] produced ${produced.messages} (${(produced.messages / seconds).toFixed(0)}/s), consumed ${consumed.messages} (${(consumed.messages / seconds).toFixed(0)}/s)\n`)
  }, 1000)

  let claimed = 0
  const producers = []
  for (let index = 0; index < config.producers; index++) {
    const producer = kafka.producer()
    await producer.connect()
    producers.push((async () => {
      while (claimed < target && Date.now() < deadline) {
        const count = Math.min(config.batch, target - claimed)
        claimed += count
        if (config.rate > 0) {
          const due = started + ((claimed - count) / config.rate) * 1000
          if (due > Date.now()) await new Promise((resolve) => setTimeout(resolve, due - Date.now()))
        }
        const messages = Array.from({ length: count }, (_, offset) => ({ key: `k${(claimed + offset) % 1000}`, value, timestamp: String(Date.now()) }))
        const sent = Date.now()
        await producer.send({ topic: config.topic, acks: config.acks, compression: codec, messages })
        const took = Date.now() - sent
        produced.messages += count
        produced.bytes += count * config.size
        for (let message = 0; message < count; message++) produced.latency.record(took)
      }
      await producer.disconnect()
    })())
  }
  await Promise.all(producers)
  const producedSeconds = (Date.now() - started) / 1000
  const expected = config.producers > 0 ? produced.messages : config.messages
  const waitUntil = Date.now() + 600000
  while (config.consumers > 0 && consumed.messages < expected && Date.now() < waitUntil) {
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  const consumedSeconds = (Date.now() - started) / 1000
  clearInterval(progress)
  await Promise.all(consumers.map((consumer) => consumer.disconnect()))

  const rows = [
    { what: 'produce (send latency)', messages: produced.messages, seconds: Math.max(producedSeconds, 1e-3), bytes: produced.bytes, latency: produced.latency.summary() },
    { what: 'consume (end-to-end)', messages: consumed.messages, seconds: consumedSeconds, bytes: consumed.bytes, latency: consumed.latency.summary() },
  ].map((row) => ({ ...row, messages_per_second: row.messages / row.seconds, megabytes_per_second: row.bytes / row.seconds / 1e6 }))
  console.log('| measure                | messages |  messages/s |     MB/s |  p50 ms |  p99 ms | p99.9 ms |  max ms |')
  console.log('|------------------------|----------|-------------|----------|---------|---------|----------|---------|')
  for (const row of rows) {
    const { p50, p99, p99_9, max } = row.latency
    console.log(`| ${row.what.padEnd(22)} | ${String(row.messages).padStart(8)} | ${row.messages_per_second.toFixed(0).padStart(11)} | ${row.megabytes_per_second.toFixed(1).padStart(8)} | ${p50.toFixed(1).padStart(7)} | ${p99.toFixed(1).padStart(7)} | ${p99_9.toFixed(1).padStart(8)} | ${max.toFixed(1).padStart(7)} |`)
  }
  const json = JSON.stringify(rows.map(({ bytes, ...row }) => row))
  console.log(json)
  if (config.json) require('node:fs').writeFileSync(config.json, json + '\n')
  if (config.consumers > 0 && consumed.messages < expected) {
    throw new Error(`consumed ${consumed.messages} of ${expected} messages`)
  }
}

main().catch((error) => {
  console.error(`kafkajs-load: ${error.message}`)
  process.exit(1)
})
