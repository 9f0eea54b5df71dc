// Validates Argo CD Application manifests against the CRD's schema
// (@kubernetes-models/argo-cd). usage: node validate-argocd.js FILE...
const fs = require("fs");
const yaml = require("js-yaml");
const { Application } = require("@kubernetes-models/argo-cd/argoproj.io/v1alpha1");

let failed = 0;
for (const file of process.argv.slice(2)) {
  for (const doc of yaml.loadAll(fs.readFileSync(file, "utf8"))) {
    if (!doc) continue;
    try {
      if (doc.kind !== "Application") throw new Error(`kind ${doc.kind} is not Application`);
      new Application(doc).validate();
      console.log(`ok ${file}: ${doc.metadata.name}`);
    } catch (e) {
      failed += 1;
      console.error(`FAIL ${file}: ${e.message}`);
    }
  }
}
process.exit(failed ? 1 : 0);
