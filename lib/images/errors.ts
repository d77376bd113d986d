/**
 * Errors raised by built-in images. They extend the podnet catalogue's {@link PodnetError} with
 * stable codes; they live here because lib/images is their only raiser (see lib/core/errors.ts for
 * the catalogue rules: users match on `code`, a retired code is never reused).
 */

import { PodnetError } from '../core/errors.js';

/**
 * The container's command line is not one the real image accepts, so the real container would
 * exit at once. `exitCode` and `output` are what it would exit with and print (e.g. cobra's
 * `Error: unknown flag: --foo` and exit code 1 for agnhost).
 */
export class ContainerArgsError extends PodnetError {
  readonly image: string;
  readonly args: readonly string[];
  readonly exitCode: number;
  readonly output: string;
  constructor(image: string, args: readonly string[], exitCode: number, output: string) {
    super('PODNET_CONTAINER_ARGS_INVALID', `${image} ${JSON.stringify(args)} exits with code ${exitCode}: ${output.trimEnd()}`);
    this.image = image;
    this.args = args;
    this.exitCode = exitCode;
    this.output = output;
  }
}

/**
 * The image is known, but the mode the arguments ask for (an agnhost subcommand such as
 * `webhook`, echo-basic's gRPC server) is not one podnet emulates.
 */
export class ImageFeatureUnsupportedError extends PodnetError {
  readonly image: string;
  readonly feature: string;
  constructor(image: string, feature: string, detail: string) {
    super('PODNET_IMAGE_FEATURE_UNSUPPORTED', `${image}: ${feature} is not emulated by podnet: ${detail}`);
    this.image = image;
    this.feature = feature;
  }
}

/** {@link requireImage} was asked for an image podnet has no built-in for. Lists the known ones. */
export class UnknownImageError extends PodnetError {
  readonly image: string;
  readonly known: readonly string[];
  constructor(image: string, known: readonly string[]) {
    super('PODNET_UNKNOWN_IMAGE', `no built-in image for ${JSON.stringify(image)}; known images: ${known.join(', ')}`);
    this.image = image;
    this.known = known;
  }
}
