import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {sharedFlags} from '../cli/flags.js'

export default class Predict extends BaseCommand {
  static override enableJsonFlag = true

  static override description = `Predict the digit in images, as JSON (one probability per digit the checkpoint's model knows)

Any image (PNG, JPEG, BMP, GIF, TIFF) is converted to a 28×28 MNIST-like digit: grayscale, dark-on-light inverted, cropped to the ink, scaled to fit 20×20 and centred on its centre of mass. Each answer has probs and prediction, the confidence (probability of the predicted digit) and known: false with a reason ("no digit" when the image holds no stroke, "not one of 0, 5, 8" when the checkpoint's open-set threshold, fitted on its validation split, rejects it). One image prints one JSON object; several print JSON Lines with their path, each as soon as it is answered. --json prints one JSON array instead, once every input is answered: one object with its path per input, in order, and {path, error} for an input that could not be read. Inputs that cannot be read are reported on stderr and the exit code is 1; the others are still predicted.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> --checkpoint-path runs/first/best.ckpt --input-path my-digit.png',
    '<%= config.bin %> <%= command.id %> --checkpoint-path best.ckpt --input-path photos/ --input-path https://example.com/digit.jpg',
    '<%= config.bin %> <%= command.id %> --checkpoint-path best.ckpt --input-path photos/ --save-input seen/',
    'cat digit.png | <%= config.bin %> <%= command.id %> --checkpoint-path best.ckpt --input-path -',
    {
      description: 'One JSON array of every answer, e.g. for jq',
      command: '<%= config.bin %> <%= command.id %> --checkpoint-path best.ckpt --input-path photos/ --json',
    },
  ]

  static override baseFlags = {
    'checkpoint-path': sharedFlags['checkpoint-path'],
    backend: sharedFlags.backend,
  }

  static override flags = {
    'input-path': Flags.string({
      description: 'image file, folder of images, http(s) URL, or - for stdin (repeatable)',
      required: true,
      multiple: true,
    }),
    preprocess: Flags.boolean({
      description: 'MNIST-style preprocessing (invert, crop, scale, centre); --no-preprocess for inputs already 28×28 white-on-black',
      default: true,
      allowNo: true,
    }),
    calibrate: Flags.boolean({
      description: "apply the checkpoint's fitted temperature to the probabilities (--no-calibrate: the network's own); the prediction never changes",
      default: true,
      allowNo: true,
    }),
    'save-input': Flags.string({
      description: 'folder to write the 28×28 image each input became (PNG named after the input; -2, -3… when a name is taken, never overwriting)',
    }),
    json: Flags.boolean({description: 'print one JSON array of all answers, each with its path, once every input is answered'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Predict)
    const [{loadPredictor}, {readInputs}, {IMAGE_LIMITS}, {DecodePool}, {InputSaver}] = await Promise.all([
      import('../model/predictor.js'),
      import('../images/inputs.js'),
      import('../images/preprocess.js'),
      import('../server/decoder.js'),
      import('../images/save-input.js'),
    ])
    const saver = flags['save-input'] === undefined ? undefined : new InputSaver(flags['save-input'])
    // Images are decoded in a worker, bounded in time and memory as the server's uploads are:
    // a crafted file is stopped, not left to spin, and its buffers never burden this process's heap.
    // The worker starts while the model loads.
    const decoder = new DecodePool({workers: 1, maxPixels: IMAGE_LIMITS.maxPixels})
    decoder.warm()
    const predictor = await loadPredictor(flags['checkpoint-path'], {backend: flags.backend, calibrate: flags.calibrate}).catch(async (error: unknown) => {
      await decoder.close()
      throw error
    })
    const paths = flags['input-path']
    // One file, URL or stdin prints exactly one JSON object; anything more prints JSON Lines with paths.
    const single = paths.length === 1 && !(await isDirectory(paths[0]))
    // --json: every answer in one document, printed once all are in.
    const answers: Array<Record<string, unknown>> | undefined = this.jsonEnabled() ? [] : undefined
    let failures = 0
    try {
      for await (const input of readInputs(paths)) {
        try {
          if (input.error) throw input.error
          const {pixels, stroke} = await decoder.decode(input.bytes, input.name, flags.preprocess)
          if (saver) await saver.save(input.name, pixels)
          const [answer] = await predictor.predict([pixels], [stroke])
          const result = {...answer, probs: roundProbs(answer.probs), confidence: Number(answer.confidence.toPrecision(4))}
          if (answers) answers.push({path: input.name, ...result})
          else process.stdout.write(`${JSON.stringify(single ? result : {path: input.name, ...result})}\n`)
        } catch (error) {
          failures += 1
          const message = error instanceof Error ? error.message : String(error)
          answers?.push({path: input.name, error: message})
          this.note(`Error: ${message}`)
        }
      }
    } finally {
      predictor.dispose()
      await decoder.close()
    }

    if (answers) this.printJson(answers)
    if (failures > 0) this.exit(1)
  }
}

async function isDirectory(path: string): Promise<boolean> {
  const {stat} = await import('node:fs/promises')
  return stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  )
}

/** Four significant digits: readable, and tiny probabilities keep their magnitude. */
function roundProbs(probs: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(probs).map(([label, p]) => [label, Number(p.toPrecision(4))]))
}
