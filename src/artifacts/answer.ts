/**
 * What `predict` prints for each image and what `POST /api/predict` answers,
 * described once (published as schema/predict.schema.json and
 * schema/api_predict.schema.json by scripts/emit-json-schemas.ts).
 */
import {z} from 'zod'

const DigitSchema = z.int().min(0).max(9)

/** The original's contract (`probs`, `prediction`) and the open-set answer. */
export const PredictAnswerSchema = z
  .object({
    probs: z
      .record(z.string().regex(/^\d$/), z.number().min(0).max(1))
      .describe("probability of each digit the model knows, keyed by digit, in the model's order (temperature-scaled when the checkpoint holds one)"),
    prediction: DigitSchema.describe('the most probable digit'),
    confidence: z.number().min(0).max(1).describe('probability of the predicted digit'),
    known: z
      .boolean()
      .describe(
        "whether the image is taken as one of the model's digits: false when it holds no stroke, or when the checkpoint's open-set score is below its threshold",
      ),
    reason: z
      .string()
      .optional()
      .describe('only when known is false: "no digit" (no stroke found), or "not one of 0, 5, 8" (worded from the model\'s classes)'),
  })
  .meta({title: 'predict answer', description: 'One answer of `digit-classification predict` (with `path` when several inputs are given).'})
export type PredictAnswer = z.infer<typeof PredictAnswerSchema>

export const ApiPredictionSchema = PredictAnswerSchema.extend({
  id: z.int().positive().nullable().describe('the logged prediction, or null when the request asked not to log'),
  created_at: z.iso.datetime().nullable(),
  checkpoint_id: z.string().regex(/^[0-9a-f]{12}$/),
  thumbnail: z.string().startsWith('data:image/png;base64,').describe('the 28×28 input the model saw'),
}).meta({title: 'POST /api/predict answer', description: "The web app's answer to one image: the predict answer, with its log entry."})
