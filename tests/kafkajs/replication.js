// kafkajs in the replication failure test (tests/replication_faults.rs; a
// plain script, not a node:test file). It runs until its stdin closes, so
// the Rust test decides when it stops, and prints one line per fact for
// the Rust test's checker:
//
//   node replication.js produce BOOTSTRAP TOPIC PARTITIONS
//     An idempotent acks=all producer of unique values j-N, one send of a
//     few values to one partition at a time, partitions in turn.
//       sent VALUE                  before the value goes out
//       ack VALUE PARTITION OFFSET  once its send succeeded
//       fail PARTITION REASON       a send that failed for good (its values
//                                   stay unacknowledged)
//   node replication.js consume BOOTSTRAP TOPIC GROUP
//     A consumer in GROUP from the beginning, kept running across leader
//     failovers (kafkajs rejoins and refetches by itself; never restarted
//     by the test).
//       read PARTITION OFFSET VALUE
//       hw PARTITION HIGH_WATERMARK  each batch's high watermark
//
// Exits 0 once stdin closes and the client disconnected; non-zero, with
// the reason on stderr, when it cannot start.
const { Kafka, logLevel } = require('kafkajs')

const [mode, bootstrap, topic, extra] = process.argv.slice(2)
if (!['produce', 'consume'].includes(mode) || !bootstrap || !topic || !extra) {
  console.error('usage: node replication.js produce BOOTSTRAP TOPIC PARTITIONS | consume BOOTSTRAP TOPIC GROUP')
  process.exit(2)
}

const kafka = new Kafka({
  clientId: `corelog-replication-${mode}`,
  brokers: bootstrap.split(','),
  logLevel: logLevel.ERROR,
  // Leader moves take a session timeout (3 s in the test) and an election;
  // retry past that rather than fail the send.
  retry: { initialRetryTime: 200, maxRetryTime: 1000, retries: 40 },
  requestTimeout: 8000,
  connectionTimeout: 2000,
})

let stopping = false
const stopped = new Promise((resolve) => {
  process.stdin.on('end', () => {
    stopping = true
    resolve()
  })
  process.stdin.on('error', () => {
    stopping = true
    resolve()
  })
  process.stdin.resume()
})

const sleep = (milliseconds) => new Promise((resolve) => setTimeout(resolve, milliseconds))

async function newProducer() {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  return producer
}

async function produce(partitions) {
  const valuesPerSend = 3
  let producer = await newProducer()
  let next = 0
  for (let send = 0; !stopping; send++) {
    const partition = send % partitions
    const values = []
    for (let index = 0; index < valuesPerSend; index++) values.push(`j-${next++}`)
    for (const value of values) console.log(`sent ${value}`)
    try {
      const [answer] = await producer.send({
        topic,
        acks: -1,
        messages: values.map((value) => ({ partition, value })),
      })
      const base = BigInt(answer.baseOffset)
      values.forEach((value, index) => console.log(`ack ${value} ${partition} ${base + BigInt(index)}`))
    } catch (error) {
      console.log(`fail ${partition} ${(error.message || String(error)).replace(/\s+/g, ' ')}`)
      // A fresh producer id: the failed send's sequence may or may not
      // have been written, and the next one must not be refused for it.
      await producer.disconnect().catch(() => {})
      while (!stopping) {
        try {
          producer = await newProducer()
          break
        } catch (connectError) {
          await sleep(500)
        }
      }
    }
    await sleep(60)
  }
  await producer.disconnect().catch(() => {})
}

async function consume(groupId) {
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 500, sessionTimeout: 10000, heartbeatInterval: 1000 })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  await consumer.run({
    eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
      console.log(`hw ${batch.partition} ${batch.highWatermark}`)
      for (const message of batch.messages) {
        console.log(`read ${batch.partition} ${message.offset} ${message.value.toString()}`)
        resolveOffset(message.offset)
      }
      await heartbeat()
    },
  })
  await stopped
  await consumer.disconnect()
}

async function main() {
  if (mode === 'produce') await produce(Number(extra))
  else await consume(extra)
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`replication.js ${mode} failed: ${error.stack || error.message}`)
    process.exit(1)
  },
)
