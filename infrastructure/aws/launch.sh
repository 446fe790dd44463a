#!/usr/bin/env bash
# Launch portfolio-lab's GPU run on AWS: optionally build and push the GPU image to ECR, then
# deploy infrastructure/aws/gpu-run.yaml. Credentials come from your AWS profile or environment
# (AWS_PROFILE, AWS_ACCESS_KEY_ID, ...), never from this repository.
#
#   infrastructure/aws/launch.sh --ssh-cidr 198.51.100.7/32 [--push] [--spot]
#       [--instance-type g5.xlarge] [--stack portfolio-lab-gpu] [--region eu-west-1]
#       [--repository portfolio-lab] [--tag gpu] [--params notebooks/params/gpu.yaml] [--dry-run]
#
# --dry-run prints the commands instead of running them.
set -euo pipefail

stack=portfolio-lab-gpu
instance_type=g5.xlarge
repository=portfolio-lab
tag=gpu
params=notebooks/params/gpu.yaml
spot=false
push=0
dry=0
ssh_cidr=""
region=${AWS_REGION:-${AWS_DEFAULT_REGION:-}}

usage() { sed -n '2,11p' "$0" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --ssh-cidr) ssh_cidr=$2; shift 2 ;;
    --instance-type) instance_type=$2; shift 2 ;;
    --stack) stack=$2; shift 2 ;;
    --region) region=$2; shift 2 ;;
    --repository) repository=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --params) params=$2; shift 2 ;;
    --spot) spot=true; shift ;;
    --push) push=1; shift ;;
    --dry-run) dry=1; shift ;;
    -h|--help) usage ;;
    *) echo "launch.sh: unknown argument $1" >&2; usage ;;
  esac
done
if ! [[ $ssh_cidr =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}/([0-9]|[12][0-9]|3[0-2])$ ]]; then
  echo "launch.sh: --ssh-cidr ADDRESS/BITS is required (the only range that may reach SSH)" >&2
  exit 2
fi
if [ -z "$region" ]; then
  echo "launch.sh: set --region or AWS_REGION" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

run() {
  if [ "$dry" = 1 ]; then printf '%q ' "$@"; echo; else "$@"; fi
}

if [ "$push" = 1 ]; then
  if [ "$dry" = 1 ]; then account=ACCOUNT; else
    account=$(aws sts get-caller-identity --query Account --output text)
  fi
  registry=$account.dkr.ecr.$region.amazonaws.com
  run aws ecr describe-repositories --region "$region" --repository-names "$repository" \
    || run aws ecr create-repository --region "$region" --repository-name "$repository" \
      --image-scanning-configuration scanOnPush=true --encryption-configuration encryptionType=AES256
  if [ "$dry" = 1 ]; then
    echo "aws ecr get-login-password --region $region | docker login --username AWS --password-stdin $registry"
  else
    aws ecr get-login-password --region "$region" | docker login --username AWS --password-stdin "$registry"
  fi
  run docker build -f "$repo/infrastructure/docker/Dockerfile" --build-arg VARIANT=gpu \
    -t "$registry/$repository:$tag" "$repo"
  run docker push "$registry/$repository:$tag"
fi

run aws cloudformation deploy --region "$region" --stack-name "$stack" \
  --template-file "$here/gpu-run.yaml" --capabilities CAPABILITY_IAM \
  --parameter-overrides "InstanceType=$instance_type" "SshCidr=$ssh_cidr" "UseSpot=$spot" \
  "EcrRepositoryName=$repository" "ImageTag=$tag" "ParamsFile=$params"
run aws cloudformation describe-stacks --region "$region" --stack-name "$stack" \
  --query "Stacks[0].Outputs" --output table
