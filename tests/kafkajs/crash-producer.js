// An idempotent kafkajs producer for tests/durability.rs's crash test: it
// sends small batches to alternating partitions for as long as it runs,
// retrying through broker restarts, and prints one JSON line per
// acknowledged send: { partition, baseOffset, values }.
const { Kafka, logLevel } = require('kafkajs')

const [brokers, topic] = [process.argv[2].split(','), process.argv[3]]
const kafka = new Kafka({
  clientId: 'crash-producer',
  brokers,
  logLevel: logLevel.NOTHING,
  // Generous retries: a send must not be given up while the broker restarts,
  // or its sequence number would be reused for other records.
  retry: { initialRetryTime: 100, maxRetryTime: 500, retries: 60 },
  requestTimeout: 5000,
})

async function main() {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  // The broker may be down at this moment (it is being killed and
  // restarted): keep trying to connect.
  for (;;) {
    try {
      await producer.connect()
      break
    } catch (error) {
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  }
  let next = 0
  for (let round = 0; ; round++) {
    const partition = round % 2
    const count = 1 + (round % 7)
    const values = [...Array(count).keys()].map((index) => `js-${next + index}`)
    next += count
    const sent = await producer.send({ topic, acks: -1, messages: values.map((value) => ({ value, partition })) })
    console.log(JSON.stringify({ partition, baseOffset: Number(sent[0].baseOffset), values }))
  }
}

main().catch((error) => {
  console.error(`crash-producer stopped: ${error.message}`)
  process.exit(1)
})
