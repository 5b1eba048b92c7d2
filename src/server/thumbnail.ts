import {grayPng} from '../images/png.js'

/** The preprocessed digit as the model saw it (white ink on black), as a data URI for the history. */
export function thumbnailDataUri(pixels: Float32Array): string {
  return `data:image/png;base64,${grayPng(pixels).toString('base64')}`
}
