// Loads testdata/<folder>/model.json with the real @tensorflow/tfjs, the way
// tf.loadLayersModel('http://…/model.json') does: every path of every
// weightsManifest group is fetched relative to model.json, the buffers are
// concatenated and tfjs-core's decodeWeights cuts the weights out by dtype ×
// shape. Prints the prediction for the input given as JSON.
//
//   NODE_PATH=/tmp/tfjs/node_modules node prove_tfjs.js FOLDER '[[1,2,3,4]]'
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');

async function main() {
  const [dir, input] = process.argv.slice(2);
  const modelJSON = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const handler = {
    load: async () => tf.io.getModelArtifactsForJSON(modelJSON, async (manifest) => {
      const buffers = [];
      for (const group of manifest) {
        for (const p of group.paths) {
          const b = fs.readFileSync(path.join(dir, p));
          buffers.push(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
        }
      }
      return [tf.io.getWeightSpecs(manifest), tf.io.concatenateArrayBuffers(buffers)];
    }),
  };
  const model = await tf.loadLayersModel(handler);
  const y = model.predict(tf.tensor(JSON.parse(input)));
  console.log(JSON.stringify(await y.array()));
}

main().catch((e) => { console.error(e); process.exit(1); });
