// Package internal holds helpers that library users do not need.
package internal
