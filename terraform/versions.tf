# Versions and providers. State holds generated secrets (the database
# password, the bootstrap admin token), so it lives in a GCS bucket that only
# the deployers can read; `terraform init -backend-config=bucket=…` picks it.
terraform {
  required_version = ">= 1.6"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  backend "gcs" {
    prefix = "license-server"
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}

data "google_project" "this" {
  project_id = var.project_id
}
