/** Image bytes → the 784 values the model takes: decoding (decode.ts), then the MNIST transform (mnist.ts). */
import {decodeImage} from './decode.js'
import {type MnistInput, toMnist} from './mnist.js'

export {
  IMAGE_LIMITS,
  type GrayImage,
  type ImageFormat,
  type ImageInfo,
  PREFIX_MIN_BYTES,
  decodeImage,
  inspectImage,
  inspectPrefix,
  orient,
  sniffFormat,
} from './decode.js'
export {type MnistInput, type MnistOptions, toMnist} from './mnist.js'

/** Decode and convert in one call: bytes → 784 values for the model, and whether a stroke was found. */
export async function preprocessBytes(bytes: Buffer, name: string, options: {preprocess: boolean}): Promise<MnistInput> {
  return toMnist(await decodeImage(bytes, name), {...options, name})
}
